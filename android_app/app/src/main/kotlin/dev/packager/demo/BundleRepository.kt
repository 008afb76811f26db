package dev.packager.demo

import android.content.res.AssetManager
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import dev.packager.core.BundleIndex
import dev.packager.core.BundleManifest
import dev.packager.core.InstalledBundle
import dev.packager.core.Manifests
import java.io.FileNotFoundException

/** The bundles `packager bundle` installed into assets/models/, and the sample images. */
class BundleRepository(private val assets: AssetManager) {
    /** Installed bundles from assets/models/index.json; empty when none is installed yet. */
    fun bundles(): List<InstalledBundle> = try {
        BundleIndex.parse(assets.open(BundleIndex.ASSET_PATH).bufferedReader().use { it.readText() }).bundles
    } catch (e: FileNotFoundException) {
        emptyList()
    }

    fun manifest(bundle: InstalledBundle): BundleManifest =
        Manifests.parse(assets.open(bundle.manifest).bufferedReader().use { it.readText() })

    /** Sample images: the generic ones in assets/samples/ plus the bundle's own golden images. */
    fun samples(bundle: InstalledBundle?, manifest: BundleManifest?): List<String> {
        val generic = assets.list(SAMPLES)?.filter { it.endsWith(".png") || it.endsWith(".jpg") }?.sorted()?.map { "$SAMPLES/$it" }.orEmpty()
        val golden = if (bundle != null && manifest != null) manifest.goldenImages.map { "${bundle.folder}/$it" } else emptyList()
        return golden + generic
    }

    fun bitmap(assetPath: String): Bitmap =
        assets.open(assetPath).use { BitmapFactory.decodeStream(it) } ?: throw IllegalArgumentException("$assetPath is not an image")

    private companion object {
        const val SAMPLES = "samples"
    }
}
