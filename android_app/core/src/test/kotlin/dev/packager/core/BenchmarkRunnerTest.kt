package dev.packager.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File

class BenchmarkRunnerTest {
    private val device = DeviceInfo("TestCo", "JVM", 34, "x86_64")

    private fun setUp(dir: File, accelerator: String = "cpu", extra: String = "", sha: String? = null): File {
        File(dir, "model.tflite").writeBytes(byteArrayOf(1, 2, 3))
        Npy.write(File(dir, "in0.npy"), NdArray.ofLongs(DType.INT8, intArrayOf(3, 2), longArrayOf(1, 2, 3, 4, 5, 6)))
        val shaField = sha?.let { "\"model_sha256\": \"$it\"," } ?: ""
        val request = File(dir, "request.json")
        request.writeText("""
            {"schema_version": 1, "request_id": "r1", "model_path": "${dir.path}/model.tflite", $shaField
             "accelerator": "$accelerator", "threads": 2, "warmup_runs": 2, "measured_runs": 5,
             "input_files": ["${dir.path}/in0.npy"], "output_dir": "${dir.path}/out", "result_path": "${dir.path}/result.json" $extra}
        """.trimIndent())
        return request
    }

    @Test fun runsMeasuresAndSavesOutputs() {
        val dir = TestData.tempDir()
        val opener = EchoOpener()
        val memory = Probe(baseline = 50_000L, peak = 51_234L)
        val logged = SessionOpener { m, a, n -> memory.log += "open"; opener.open(m, a, n) }
        val resultFile = BenchmarkRunner(device, logged, memory = memory).runFile(setUp(dir))!!
        val result = resultFile.readText()
        assertTrue(result, result.contains("\"status\": \"ok\""))
        assertTrue(result.contains("\"applied\": \"cpu\""))
        assertTrue(result, result.contains("\"peak_memory_kb\": 1234")) // the rise over the baseline, not the peak
        assertTrue("the result says what the figure measures", result.contains("\"peak_memory_measure\": \"rise_over_preload_baseline\""))
        assertTrue("counts no runtime gave are unknown, and say so", result.contains("\"ops_source\": \"unknown\""))
        assertEquals("the baseline is taken once, before the model is opened", listOf("baseline", "open"), memory.log.take(2))
        assertEquals(1 + 2 + 5 + 3, opener.runs) // first inference, warm-up, measured, one per sample for the outputs
        val out = Npy.read(File(dir, "out/output_0.npy"))
        assertArrayEquals(intArrayOf(3, 2), out.shape)
        assertArrayEquals(longArrayOf(1, 2, 3, 4, 5, 6), out.toLongArray())
        assertFalse("no temporary files left", dir.list()!!.any { it.endsWith(".tmp") })
    }

    @Test fun aFailedAcceleratorFallsBackVisibly() {
        val dir = TestData.tempDir()
        val opener = EchoOpener(unavailable = setOf(Accelerator.GPU))
        val request = BenchRequest.parse(setUp(dir, accelerator = "gpu").readText())
        val result = BenchmarkRunner(device, opener).run(request)
        assertEquals("ok", result.status)
        assertEquals(Accelerator.GPU, result.accelerator.requested)
        assertEquals(Accelerator.XNNPACK, result.accelerator.applied)
        val reason = result.accelerator.fallbackReason!!
        assertTrue(reason, reason.contains("gpu is not available"))
    }

    @Test fun nothingRunsWhenNoAcceleratorLoads() {
        val dir = TestData.tempDir()
        val opener = EchoOpener(unavailable = Accelerator.entries.toSet())
        val result = BenchmarkRunner(device, opener).run(BenchRequest.parse(setUp(dir, accelerator = "nnapi").readText()))
        assertEquals("error", result.status)
        assertNull(result.accelerator.applied)
        assertTrue(result.latenciesMs.isEmpty())
        assertTrue(result.errors.single(), result.errors.single().contains("no accelerator could load"))
    }

    @Test fun aModelThatIsNotTheRequestedOneIsAnError() {
        val dir = TestData.tempDir()
        val result = BenchmarkRunner(device, EchoOpener()).run(BenchRequest.parse(setUp(dir, sha = TestData.SHA).readText()))
        assertEquals("error", result.status)
        assertTrue(result.errors.single(), result.errors.single().contains("sha256"))
        assertNull(result.initMs)
    }

    @Test fun timesOut() {
        val dir = TestData.tempDir()
        val opener = EchoOpener(delayNanos = 30_000_000)
        val result = BenchmarkRunner(device, opener).run(BenchRequest.parse(setUp(dir, extra = ", \"timeout_s\": 0.05").readText()))
        assertEquals("error", result.status)
        assertTrue(result.errors.single(), result.errors.single().contains("timed out"))
        assertTrue(result.latenciesMs.size < 5)
    }

    @Test fun refusesFilesOutsideTheAppsFolder() {
        val dir = TestData.tempDir()
        val root = File(dir, "app").apply { mkdirs() }
        val request = setUp(dir)
        assertNull(BenchmarkRunner(device, EchoOpener(), allowedRoot = root).runFile(request))
        val result = BenchmarkRunner(device, EchoOpener(), allowedRoot = root).run(BenchRequest.parse(request.readText()))
        assertTrue(result.errors.single(), result.errors.single().contains("outside"))
    }

    @Test fun anInvalidRequestGetsAnErrorResultWhenItNamesWhereToWriteIt() {
        val dir = TestData.tempDir()
        val request = File(dir, "bad.json")
        request.writeText("""{"schema_version": 1, "request_id": "bad", "accelerator": "gpu", "threads": 0, "result_path": "${dir.path}/bad-result.json"}""")
        val file = BenchmarkRunner(device, EchoOpener()).runFile(request)!!
        val text = file.readText()
        assertTrue(text, text.contains("\"status\": \"error\"") && text.contains("invalid request"))
        request.writeText("{}")
        assertNull(BenchmarkRunner(device, EchoOpener()).runFile(request))
    }

    @Test fun requestValidation() {
        val dir = TestData.tempDir()
        val good = setUp(dir).readText()
        assertEquals(5, BenchRequest.parse(good).measuredRuns)
        assertThrows(ContractException::class.java) { BenchRequest.parse(good.replace("\"cpu\"", "\"tpu\"")) }
        assertThrows(ContractException::class.java) { BenchRequest.parse(good.replace("\"threads\": 2", "\"threads\": 65")) }
        assertThrows(ContractException::class.java) { BenchRequest.parse(good.replace("\"request_id\": \"r1\"", "\"request_id\": \"r 1\"")) }
        assertThrows(ContractException::class.java) { BenchRequest.parse(good.replace("\"threads\": 2", "\"threads\": 2, \"extra\": 1")) }
        assertThrows(ContractException::class.java) { BenchRequest.parse(good.replace("\"${dir.path}/out\"", "\"out\"")) }
    }

    /** Records when the runner takes its baseline relative to opening the model. */
    private class Probe(val baseline: Long?, val peak: Long?) : MemoryProbe {
        val log = mutableListOf<String>()
        override fun baselineKb(): Long? { log += "baseline"; return baseline }
        override fun peakKb(): Long? { log += "peak"; return peak }
    }

    @Test fun peakMemoryIsUnknownWhenThePeakCannotBeRestarted() {
        val dir = TestData.tempDir()
        val result = BenchmarkRunner(device, EchoOpener(), memory = Probe(baseline = null, peak = 90_000L)).run(BenchRequest.parse(setUp(dir).readText()))
        assertEquals("ok", result.status)
        assertNull("a lifetime peak is not reported as this model's", result.peakMemoryKb)
        assertTrue(result.toJson(), result.toJson().contains("\"peak_memory_measure\": null"))
        assertEquals(0L, MemoryProbe.rise(10L, 5L))
        assertEquals(7L, MemoryProbe.rise(3L, 10L))
    }
}
