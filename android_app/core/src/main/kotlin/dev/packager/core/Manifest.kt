package dev.packager.core

/** Per-tensor affine quantization: real = scale * (q - zeroPoint). */
data class Quantization(val scale: Double, val zeroPoint: Long)

/** One model input or output as the manifest describes it. */
data class TensorSpec(
    val name: String,
    val index: Int,
    val shape: List<Int>,
    val dtype: DType,
    val quantization: Quantization?,
    val semantics: String,
)

enum class ColorSpace { RGB, GRAYSCALE;
    val channels: Int get() = if (this == RGB) 3 else 1
}

enum class ResizeMethod(val manifestName: String) { BILINEAR("bilinear"), NEAREST("nearest") }

/** How pixels become the input tensor (manifest "preprocessing"); mean/std in 0..255 pixel units. */
data class PreprocessingSpec(
    val height: Int,
    val width: Int,
    val colorSpace: ColorSpace,
    val mean: List<Double>,
    val std: List<Double>,
    val resizeMethod: ResizeMethod,
    val layout: String,
) {
    val channels: Int get() = colorSpace.channels

    /** Mean of channel c: one value applies to every channel. */
    fun meanOf(c: Int): Double = if (mean.size == 1) mean[0] else mean[c]

    fun stdOf(c: Int): Double = if (std.size == 1) std[0] else std[c]
}

data class GoldenFile(val file: String, val tensor: String, val index: Int?, val dtype: DType, val shape: List<Int>)

/** The parts of manifest.json (docs/CONTRACTS.md, contract 1) that the app and the benchmark use. */
data class BundleManifest(
    val name: String,
    val version: String,
    val task: String,
    val modelFile: String,
    val modelSha256: String,
    val modelSizeBytes: Long,
    val recipeName: String,
    val recipeQuant: String,
    val recipeEngine: String,
    val inputs: List<TensorSpec>,
    val outputs: List<TensorSpec>,
    val preprocessing: PreprocessingSpec?,
    val labelsFile: String?,
    val labels: List<String>,
    /** The output the labels belong to (manifest labels.output); null: the first output. */
    val labelsOutput: String? = null,
    val goldenCount: Int,
    val goldenInputs: List<GoldenFile>,
    val goldenOutputs: List<GoldenFile>,
    val goldenImages: List<String>,
) {
    /** The image input the preprocessing feeds (the first input). */
    val imageInput: TensorSpec get() = inputs[0]

    /** Position in [outputs] of the output the labels belong to (the first output by default). */
    val labelsOutputIndex: Int get() = labelsOutput?.let { name -> outputs.indexOfFirst { it.name == name } }?.takeIf { it >= 0 } ?: 0

    /** Every file of the bundle the app needs, relative to the bundle folder. */
    val files: List<String>
        get() = (listOf(modelFile, "manifest.json") + listOfNotNull(labelsFile) +
            goldenInputs.map { it.file } + goldenOutputs.map { it.file } + goldenImages).distinct()
}

object Manifests {
    private val BUNDLE_NAME = Regex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    private val SHA256 = Regex("^[0-9a-f]{64}$")
    private val RELATIVE_FILE = Regex("^[A-Za-z0-9_./-]+$")
    private val SEMANTICS = setOf("image", "features", "probabilities", "logits", "scores", "embedding", "other", "detection_boxes", "detection_classes", "detection_scores", "detection_count")

    /** The schema's bundle_name: safe as a folder name on every platform and inside an APK's assets. */
    fun isSafeName(name: String): Boolean = BUNDLE_NAME.matches(name) && !name.contains("..")

    /** The schema's relative_file: never absolute, never leaving the bundle folder. */
    fun isSafeRelativeFile(path: String): Boolean =
        RELATIVE_FILE.matches(path) && !path.startsWith("/") && path.split('/').none { it == ".." }

    fun parse(text: String): BundleManifest = parse(Json.parseObject(text, "manifest.json"))

    internal fun parse(root: com.google.gson.JsonObject): BundleManifest {
        val m = Fields(root, "")
        if (m.long("schema_version") != 1L) m.fail("schema_version", "must be 1 (this app reads manifest version 1)")
        val name = m.string("name")
        if (!isSafeName(name)) m.fail("name", "'$name' is not a safe bundle name")
        val model = m.obj("model")
        val sha = model.string("sha256")
        if (!SHA256.matches(sha)) model.fail("sha256", "is not a lowercase sha256")
        val recipe = m.obj("recipe")
        val inputs = m.objects("inputs").map(::tensor)
        val outputs = m.objects("outputs").map(::tensor)
        if (inputs.isEmpty()) m.fail("inputs", "must list at least one tensor")
        if (outputs.isEmpty()) m.fail("outputs", "must list at least one tensor")
        val labels = m.obj("labels")
        val golden = m.obj("golden")
        val manifest = BundleManifest(
            name = name,
            version = m.string("version"),
            task = m.string("task").also { if (it !in setOf("image_classification", "object_detection", "segmentation", "generic")) m.fail("task", "'$it' is not a known task") },
            modelFile = safeFile(model, "file"),
            modelSha256 = sha,
            modelSizeBytes = model.long("size_bytes"),
            recipeName = recipe.string("name"),
            recipeQuant = recipe.string("quant"),
            recipeEngine = recipe.string("engine"),
            inputs = inputs,
            outputs = outputs,
            preprocessing = m.objOrNull("preprocessing")?.let(::preprocessing),
            labelsFile = if (labels.has("file")) safeFile(labels, "file") else null,
            labels = labels.strings("values"),
            labelsOutput = if (labels.has("output")) labels.string("output") else null,
            goldenCount = golden.int("count", min = 1),
            goldenInputs = golden.objects("inputs").map(::goldenFile),
            goldenOutputs = golden.objects("outputs").map(::goldenFile),
            goldenImages = if (golden.has("images")) golden.strings("images").onEachIndexed { i, f ->
                if (!isSafeRelativeFile(f)) golden.fail("images/$i", "'$f' is not a safe relative path")
            } else emptyList(),
        )
        val pre = manifest.preprocessing
        if (pre != null) {
            for ((key, values) in listOf("mean" to pre.mean, "std" to pre.std)) {
                if (values.size != 1 && values.size != pre.channels) {
                    m.fail("preprocessing/$key", "has ${values.size} values but ${pre.colorSpace} has ${pre.channels} channels")
                }
            }
        }
        return manifest
    }

    private fun safeFile(f: Fields, key: String): String {
        val path = f.string(key)
        if (!isSafeRelativeFile(path)) f.fail(key, "'$path' is not a safe relative path")
        return path
    }

    private fun tensor(t: Fields): TensorSpec {
        val q = t.objOrNull("quantization")
        val quantization = q?.let {
            val scale = it.number("scale")
            if (!(scale > 0)) it.fail("scale", "must be positive")
            Quantization(scale, it.long("zero_point"))
        }
        val semantics = t.string("semantics")
        if (semantics !in SEMANTICS) t.fail("semantics", "'$semantics' is not a known semantics")
        return TensorSpec(t.string("name"), t.int("index", min = 0), t.ints("shape"), DType.of(t.string("dtype")), quantization, semantics)
    }

    private fun preprocessing(p: Fields): PreprocessingSpec {
        val size = p.ints("size")
        if (size.size != 2 || size.any { it < 1 }) p.fail("size", "must be [height, width] with positive values")
        val color = p.string("color_space")
        val resize = p.string("resize_method")
        val std = p.numbers("std")
        if (std.any { !(it > 0) }) p.fail("std", "must be positive")
        return PreprocessingSpec(
            height = size[0],
            width = size[1],
            colorSpace = ColorSpace.entries.firstOrNull { it.name == color } ?: p.fail("color_space", "'$color' is not RGB or GRAYSCALE"),
            mean = p.numbers("mean"),
            std = std,
            resizeMethod = ResizeMethod.entries.firstOrNull { it.manifestName == resize } ?: p.fail("resize_method", "'$resize' is not bilinear or nearest"),
            layout = p.string("layout").also { if (it != "NHWC") p.fail("layout", "'$it' is not NHWC") },
        )
    }

    private fun goldenFile(g: Fields) = GoldenFile(
        file = safeFile(g, "file"),
        tensor = g.string("tensor"),
        index = g.intOrNull("index"),
        dtype = DType.of(g.string("dtype")),
        shape = g.ints("shape"),
    )
}
