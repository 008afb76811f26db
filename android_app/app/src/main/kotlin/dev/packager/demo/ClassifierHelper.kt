package dev.packager.demo

import android.content.Context
import android.graphics.Bitmap
import android.os.Build
import android.os.SystemClock
import dev.packager.core.Accelerator
import dev.packager.core.AcceleratorOutcome
import dev.packager.core.AcceleratorPlan
import dev.packager.core.BundleManifest
import dev.packager.core.Category
import dev.packager.core.Detection
import dev.packager.core.DetectionDecoder
import dev.packager.core.DetectionOverlay
import dev.packager.core.InferenceSession
import dev.packager.core.InstalledBundle
import dev.packager.core.Pixels
import dev.packager.core.Postprocess
import dev.packager.core.Preprocessor
import dev.packager.core.SegmentationDecoder
import dev.packager.core.SegmentationOverlay

/**
 * One inference's result: a classifier's top classes, a detector's detections (boxes, labels,
 * scores) with the sample image and the boxes drawn on it, or a segmenter's classes (share of the
 * pixels) with its mask blended over the sample; how long it took.
 */
data class Classification(
    val categories: List<Category>,
    val inferenceMs: Double,
    val preprocessMs: Double,
    val detections: List<Detection>? = null,
    val overlay: Bitmap? = null,
)

/** Detections under this score are not shown (the model's own NMS threshold may be lower). */
const val MIN_DETECTION_SCORE = 0.3

/**
 * Owns one loaded model (the thin-Activity-over-a-helper shape of Google's LiteRT samples).
 * Preprocessing, labels and quantization all come from the bundle's manifest through core.
 * Not thread-safe: the view model calls it from one thread.
 */
class ClassifierHelper(private val context: Context, val bundle: InstalledBundle, val manifest: BundleManifest) : AutoCloseable {
    private var session: InferenceSession? = null
    var initMs: Double = 0.0
        private set

    val outcome: AcceleratorOutcome? get() = session?.outcome

    fun load(accelerator: Accelerator, threads: Int) {
        close()
        val signature = IoSignature(manifest.inputs, manifest.outputs)
        val opener = context.runtimes.create(context, { ModelSource.Asset(context.assets, it) }, signature, Build.VERSION.SDK_INT)
        val start = SystemClock.elapsedRealtimeNanos()
        session = AcceleratorPlan.open(opener, bundle.model, accelerator, threads)
        initMs = (SystemClock.elapsedRealtimeNanos() - start) / 1e6
    }

    fun classify(bitmap: Bitmap, topK: Int): Classification {
        val current = session ?: throw IllegalStateException("no model loaded")
        val spec = manifest.preprocessing ?: throw IllegalStateException("${manifest.name} takes arrays, not images")
        if (manifest.inputs.size != 1) throw IllegalStateException("${manifest.name} has ${manifest.inputs.size} inputs; the demo feeds one image")
        val t0 = SystemClock.elapsedRealtimeNanos()
        val argb = IntArray(bitmap.width * bitmap.height)
        bitmap.getPixels(argb, 0, bitmap.width, 0, 0, bitmap.width, bitmap.height)
        val input = Preprocessor.inputFor(manifest, Pixels.fromArgb(argb, bitmap.width, bitmap.height, spec.colorSpace))
        val t1 = SystemClock.elapsedRealtimeNanos()
        val outputs = current.run(listOf(input))
        val t2 = SystemClock.elapsedRealtimeNanos()
        if (manifest.task == "object_detection") {
            val detections = DetectionDecoder.decode(manifest, outputs, MIN_DETECTION_SCORE)
            val drawn = DetectionOverlay.outline(argb, bitmap.width, bitmap.height, detections, thickness = maxOf(1, bitmap.width / 64))
            val overlay = Bitmap.createBitmap(drawn, bitmap.width, bitmap.height, Bitmap.Config.ARGB_8888)
            return Classification(emptyList(), (t2 - t1) / 1e6, (t1 - t0) / 1e6, detections, overlay)
        }
        if (manifest.task == "segmentation") {
            val mask = SegmentationDecoder.decode(manifest, outputs[0])
            val blended = SegmentationOverlay.blend(argb, bitmap.width, bitmap.height, mask, alpha = 0.5)
            val overlay = Bitmap.createBitmap(blended, bitmap.width, bitmap.height, Bitmap.Config.ARGB_8888)
            return Classification(SegmentationDecoder.classShares(mask, manifest.labels).take(topK), (t2 - t1) / 1e6, (t1 - t0) / 1e6,
                                  overlay = overlay)
        }
        return Classification(Postprocess.classify(manifest, outputs, topK), (t2 - t1) / 1e6, (t1 - t0) / 1e6)
    }

    override fun close() {
        session?.close()
        session = null
    }
}
