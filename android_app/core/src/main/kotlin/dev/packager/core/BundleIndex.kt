package dev.packager.core

/** One bundle installed in the app's assets by `packager bundle` (paths relative to the assets root). */
data class InstalledBundle(
    val name: String,
    val version: String,
    val task: String,
    val folder: String,
    val manifest: String,
    val model: String,
    val modelSha256: String,
    val sizeBytes: Long,
)

/**
 * assets/models/index.json: the bundles `packager bundle` installed, so the app lists them
 * without scanning assets (AssetManager.list is slow and cannot tell a bundle from a folder).
 */
data class BundleIndex(val bundles: List<InstalledBundle>) {
    fun find(name: String): InstalledBundle? = bundles.firstOrNull { it.name == name }

    companion object {
        const val ASSET_PATH = "models/index.json"

        fun parse(text: String): BundleIndex {
            val root = Fields(Json.parseObject(text, ASSET_PATH), "")
            if (root.long("schema_version") != 1L) root.fail("schema_version", "must be 1")
            val bundles = root.objects("bundles").map { b ->
                val name = b.string("name")
                if (!Manifests.isSafeName(name)) b.fail("name", "'$name' is not a safe bundle name")
                val folder = "models/$name"
                fun inside(key: String): String {
                    val path = b.string(key)
                    if (!Manifests.isSafeRelativeFile(path) || !(path == folder || path.startsWith("$folder/"))) {
                        b.fail(key, "'$path' is not inside $folder")
                    }
                    return path
                }
                InstalledBundle(
                    name = name,
                    version = b.string("version"),
                    task = b.string("task"),
                    folder = inside("folder"),
                    manifest = inside("manifest"),
                    model = inside("model"),
                    modelSha256 = b.string("model_sha256"),
                    sizeBytes = b.long("size_bytes"),
                )
            }
            val duplicates = bundles.groupBy { it.name }.filterValues { it.size > 1 }.keys
            if (duplicates.isNotEmpty()) throw ContractException("$ASSET_PATH lists ${duplicates.first()} more than once")
            return BundleIndex(bundles)
        }
    }
}
