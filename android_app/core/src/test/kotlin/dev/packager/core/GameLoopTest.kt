package dev.packager.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File

class GameLoopTest {
    private fun scenarios(vararg entries: String) =
        """{"schema_version": 1, "kind": "packager-game-loop-scenarios", "scenarios": [${entries.joinToString(",")}]}"""

    private fun entry(n: Int, accelerator: String, bundle: String = "digits", sha: String = TestData.SHA) =
        """{"scenario": $n, "bundle": "$bundle", "model_sha256": "$sha", "accelerator": "$accelerator", "threads": 2, "warmup_runs": 1, "measured_runs": 7}"""

    @Test fun scenarioNumbersMapToOneBundleOnOneAccelerator() {
        val parsed = GameLoop.parseScenarios(scenarios(entry(1, "cpu"), entry(2, "gpu")))
        assertEquals(listOf(1, 2), parsed.keys.toList())
        assertEquals(Accelerator.GPU, parsed.getValue(2).accelerator)
        assertEquals("models/digits", GameLoop.assetFolder(parsed.getValue(2)))
        assertEquals(7, parsed.getValue(1).measuredRuns)
    }

    @Test fun theRequestRunsTheBundlesModelOnItsGoldenInputsInTheWorkFolder() {
        val manifest = Manifests.parse(TestData.manifestJson())
        val work = File("/data/user/0/dev.packager.demo/files/packager/game-loop/scenario_2")
        val request = GameLoop.request(GameLoop.parseScenarios(scenarios(entry(2, "xnnpack"))).getValue(2), manifest, work)
        assertEquals(listOf("digits.tflite", "golden/input_0.npy"), GameLoop.files(manifest))
        assertEquals("$work/digits.tflite", request.modelPath)
        assertEquals(listOf("$work/golden/input_0.npy"), request.inputFiles)
        assertEquals(Accelerator.XNNPACK, request.accelerator)
        assertEquals(TestData.SHA, request.modelSha256)
        assertEquals("$work/result.json", request.resultPath)
        assertTrue(request.saveOutputs)
        // the request is a valid contract-2 request: the app's own parser reads it back
        assertEquals("game-loop-scenario-2", request.requestId)
    }

    @Test fun anotherBuildOfTheBundleIsRefusedNotMeasuredUnderItsName() {
        val manifest = Manifests.parse(TestData.manifestJson())
        val other = "f".repeat(64)
        val scenario = GameLoop.parseScenarios(scenarios(entry(1, "cpu", sha = other))).getValue(1)
        val e = assertThrows(ContractException::class.java) { GameLoop.request(scenario, manifest, File("/w")) }
        assertTrue(e.message!!, e.message!!.contains("packager bundle"))
    }

    @Test fun aFileThatIsNotTheScenariosFileNamesTheField() {
        val wrongKind = assertThrows(ContractException::class.java) {
            GameLoop.parseScenarios("""{"schema_version": 1, "kind": "packager-device-results", "scenarios": []}""")
        }
        assertTrue(wrongKind.message!!, wrongKind.message!!.startsWith("kind"))
        val badAccelerator = assertThrows(ContractException::class.java) { GameLoop.parseScenarios(scenarios(entry(1, "tpu"))) }
        assertTrue(badAccelerator.message!!, badAccelerator.message!!.startsWith("scenarios/0/accelerator"))
        val twice = assertThrows(ContractException::class.java) { GameLoop.parseScenarios(scenarios(entry(1, "cpu"), entry(1, "gpu"))) }
        assertTrue(twice.message!!, twice.message!!.contains("listed twice"))
        val escape = assertThrows(ContractException::class.java) { GameLoop.parseScenarios(scenarios(entry(1, "cpu", bundle = "../x"))) }
        assertTrue(escape.message!!, escape.message!!.startsWith("scenarios/0/bundle"))
    }
}
