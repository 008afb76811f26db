package dev.packager.demo

import android.content.Intent
import org.robolectric.RuntimeEnvironment
import com.google.gson.GsonBuilder
import com.google.gson.JsonObject
import com.google.gson.JsonParser
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import java.io.File

/**
 * BenchmarkActivity as the device kit starts it (`am start ... --esa requests a.json,b.json`): the
 * requests are read from the app's data folder, each result written where its request says; the
 * results (and their .npy outputs) are copied out for the Python side to validate and compare.
 */
@RunWith(RobolectricTestRunner::class)
class BenchmarkActivityTest {
    private val app: ReplayApp get() = RuntimeEnvironment.getApplication() as ReplayApp

    /** The digits bundle's model and golden input, copied from the assets into the data folder as the device kit pushes them. */
    private fun staged(): File {
        val dir = File(app.dataDir, "files/packager/digits").apply { mkdirs() }
        for (name in listOf("digits.tflite", "manifest.json", "golden/input_0.npy", "golden/output_0.npy")) {
            val dest = File(dir, name).apply { parentFile!!.mkdirs() }
            app.assets.open("models/digits/$name").use { input -> dest.outputStream().use { input.copyTo(it) } }
        }
        return dir
    }

    private fun request(dir: File, id: String, accelerator: String, result: File): File {
        val r = JsonObject().apply {
            addProperty("schema_version", 1); addProperty("request_id", id); addProperty("bundle", "digits")
            addProperty("model_path", File(dir, "digits.tflite").path); addProperty("accelerator", accelerator)
            addProperty("threads", 2); addProperty("warmup_runs", 1); addProperty("measured_runs", 3)
            add("input_files", com.google.gson.JsonArray().apply { add(File(dir, "golden/input_0.npy").path) })
            addProperty("output_dir", File(dir, "out-$id").path); addProperty("result_path", result.path)
        }
        return File(dir, "$id.request.json").apply { writeText(GsonBuilder().create().toJson(r)) }
    }

    @Test
    fun requestsRunAndResultsLandInTheDataFolder() {
        val dir = staged()
        val outside = File(Expected.out, "outside.result.json")  // not under the app's data folder: refused
        val requests = listOf(
            request(dir, "digits.xnnpack.1", "xnnpack", File(dir, "r1.result.json")),
            request(dir, "digits.gpu.2", "gpu", File(dir, "r2.result.json")),
            request(dir, "digits.cpu.3", "cpu", outside),
        )
        app.runtimes = ReplayRuntimes(refuse = setOf(dev.packager.core.Accelerator.GPU))
        try {
            val intent = Intent(app, BenchmarkActivity::class.java).putExtra(BenchmarkActivity.EXTRA_REQUESTS, requests.map { it.path }.toTypedArray())
            val activity = Robolectric.buildActivity(BenchmarkActivity::class.java, intent).setup().get()
            awaitMain("the benchmark thread to finish the activity", timeoutMs = 60_000, read = { activity.isFinishing }) { it }
        } finally {
            app.runtimes = ReplayRuntimes()
        }
        assertFalse(outside.exists())
        Expected.out.mkdirs()
        for ((i, name) in listOf("r1", "r2").withIndex()) {
            val result = File(dir, "$name.result.json")
            assertTrue("$result written", result.exists())
            val json = JsonParser.parseString(result.readText()).asJsonObject
            assertEquals("ok", json.get("status").asString)
            result.copyTo(File(Expected.out, "$name.result.json"), overwrite = true)
            requests[i].copyTo(File(Expected.out, "$name.request.json"), overwrite = true)
            json.getAsJsonArray("output_files").forEachIndexed { k, f -> File(f.asString).copyTo(File(Expected.out, "$name.output_$k.npy"), overwrite = true) }
        }
    }

    @Test
    fun noRequestsFinishesAtOnce() {
        val activity = Robolectric.buildActivity(BenchmarkActivity::class.java, Intent(app, BenchmarkActivity::class.java)).setup().get()
        assertTrue(activity.isFinishing)
    }
}
