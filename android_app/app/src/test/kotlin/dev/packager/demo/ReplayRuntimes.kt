package dev.packager.demo

import android.app.Application
import android.content.res.AssetManager
import dev.packager.core.Accelerator
import dev.packager.core.AcceleratorOutcome
import dev.packager.core.AcceleratorUnavailable
import dev.packager.core.InferenceSession
import dev.packager.core.Manifests
import dev.packager.core.NdArray
import dev.packager.core.Npy
import dev.packager.core.OpsSource
import dev.packager.core.SessionOpener
import java.io.File

/**
 * The one stand-in of these tests: the runtime. It replays what the host's LiteRT computed when the
 * bundle was built (its golden files: input row i gives output rows i), and refuses any other input,
 * so a test passes only if the app fed the model exactly the golden input. It reads the model,
 * the manifest and the golden files through the same [ModelSource] the app gives a real runtime.
 */
class ReplayRuntimes(private val refuse: Set<Accelerator> = emptySet()) : OpenerFactory {
    val opened = mutableListOf<Pair<String, Accelerator>>()

    override fun create(context: android.content.Context, sourceOf: (String) -> ModelSource, expected: IoSignature?, sdk: Int): SessionOpener =
        SessionOpener { modelPath, accelerator, _ ->
            if (accelerator in refuse) throw AcceleratorUnavailable("${accelerator.id} refused by the test's runtime")
            val model = when (val source = sourceOf(modelPath)) {
                // as LiteRtOpener.load maps it: openFd works only on an asset stored uncompressed
                is ModelSource.Asset -> source.assets.openFd(source.path).use { fd ->
                    fd.createInputStream().use { it.readBytes().copyOf(fd.declaredLength.toInt()) }
                }
                else -> read(source)
            }
            require(model.size > 8 && String(model, 4, 4) == "TFL3") { "$modelPath is not a .tflite file" }
            val folder = modelPath.substringBeforeLast('/')
            val manifest = Manifests.parse(String(read(sourceOf("$folder/manifest.json"))))
            val inputs = manifest.goldenInputs.map { Npy.parse(read(sourceOf("$folder/${it.file}"))) }
            val outputs = manifest.goldenOutputs.map { Npy.parse(read(sourceOf("$folder/${it.file}"))) }
            synchronized(opened) { opened += modelPath to accelerator }
            ReplaySession(inputs, outputs, AcceleratorOutcome(accelerator, accelerator, opsSource = OpsSource.UNKNOWN, opsNote = "replayed golden outputs"))
        }

    private fun read(source: ModelSource): ByteArray = when (source) {
        is ModelSource.OnDisk -> File(source.path).readBytes()
        is ModelSource.Asset -> source.assets.open(source.path).use { it.readBytes() }
    }
}

private class ReplaySession(val inputs: List<NdArray>, val outputs: List<NdArray>, override val outcome: AcceleratorOutcome) : InferenceSession {
    override fun run(inputs: List<NdArray>): List<NdArray> {
        val row = (0 until this.inputs[0].rows).firstOrNull { i ->
            inputs.indices.all { k -> this.inputs[k].row(i).data.contentEquals(inputs[k].data) }
        } ?: throw IllegalStateException("the replaying runtime knows only the bundle's golden inputs")
        return outputs.map { it.row(row) }
    }

    override fun close() {}
}

/** The test Application (robolectric.properties): the app's runtimes are the replaying stand-in. */
class ReplayApp : Application(), RuntimeProvider {
    override var runtimes: OpenerFactory = ReplayRuntimes()

    override fun onCreate() {
        super.onCreate()
        // Without AGP (whose resource APK, with isIncludeAndroidResources, carries the assets; the
        // Python suite has no aapt2), the suite zips the app's assets as an APK does (.tflite
        // stored) and it is added to the app's AssetManager as the framework adds an APK.
        System.getProperty("packager.assets.apk")?.let { root ->
            val cookie = AssetManager::class.java.getMethod("addAssetPath", String::class.java).invoke(assets, root) as Int
            check(cookie != 0) { "could not add $root to the app's assets" }
        }
    }
}
