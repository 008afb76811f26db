package dev.packager.core

import java.io.File

/** One game-loop scenario: a benchmark request (contract 2) of one bundle on one accelerator. */
data class GameLoopScenario(
    val scenario: Int,
    val bundle: String,
    val modelSha256: String,
    val accelerator: Accelerator,
    val threads: Int,
    val warmupRuns: Int,
    val measuredRuns: Int,
)

/**
 * Firebase Test Lab game loops (docs/DEVICE_FARMS.md). Test Lab starts the app with the action
 * [ACTION], the scenario number as the int extra [EXTRA_SCENARIO] and a results file as the
 * intent's data URI. The scenarios come from [SCENARIOS_ASSET] (written by
 * `packager device farm game-loop`); the app copies [files] of the bundle out of its assets into a
 * work folder, runs [request] with [BenchmarkRunner] and writes the result, in the kit's contract,
 * to the results file, and the outputs to [OUTPUTS_FOLDER]/scenario_<N>/ in its external files.
 */
object GameLoop {
    const val ACTION = "com.google.intent.action.TEST_LOOP"
    const val EXTRA_SCENARIO = "scenario"
    const val SCENARIOS_ASSET = "packager/game-loop-scenarios.json"
    const val OUTPUTS_FOLDER = "packager-game-loop"
    private const val KIND = "packager-game-loop-scenarios"
    private val BUNDLE_NAME = Regex("^[A-Za-z0-9_.-]{1,128}$")
    private val SHA256 = Regex("^[0-9a-f]{64}$")

    /** Scenario number -> scenario; a file that is not the kit's scenarios file is a ContractException naming the field. */
    fun parseScenarios(text: String): Map<Int, GameLoopScenario> {
        val root = Fields(Json.parseObject(text, SCENARIOS_ASSET), "")
        if (root.long("schema_version") != 1L) root.fail("schema_version", "must be 1")
        if (root.string("kind") != KIND) root.fail("kind", "must be $KIND")
        val out = LinkedHashMap<Int, GameLoopScenario>()
        for (s in root.objects("scenarios")) {
            val number = s.int("scenario", 1, 100000)
            val bundle = s.string("bundle").also { if (!BUNDLE_NAME.matches(it) || it.contains("..")) s.fail("bundle", "'$it' is not a bundle name") }
            val sha = s.string("model_sha256").also { if (!SHA256.matches(it)) s.fail("model_sha256", "is not a lowercase sha256") }
            val accelerator = try { Accelerator.of(s.string("accelerator")) } catch (e: ContractException) { s.fail("accelerator", e.message ?: "") }
            if (out.containsKey(number)) s.fail("scenario", "$number is listed twice")
            out[number] = GameLoopScenario(number, bundle, sha, accelerator, s.int("threads", 1, 64), s.int("warmup_runs", 0, 10000),
                s.int("measured_runs", 1, 100000))
        }
        return out
    }

    /** Where the bundle's files are in the APK's assets (as `packager bundle` installs them). */
    fun assetFolder(scenario: GameLoopScenario): String = "models/${scenario.bundle}"

    /** The bundle files a scenario needs, relative to its asset folder: the model, then the golden inputs. */
    fun files(manifest: BundleManifest): List<String> = listOf(manifest.modelFile) + manifest.goldenInputs.map { it.file }

    /**
     * The request for [scenario], on the files copied into [workDir]. The app must carry the model the
     * scenario was written for: a different build of the bundle would be measured under the wrong name.
     */
    fun request(scenario: GameLoopScenario, manifest: BundleManifest, workDir: File): BenchRequest {
        if (manifest.name != scenario.bundle || manifest.modelSha256 != scenario.modelSha256) {
            throw ContractException("scenario ${scenario.scenario} is ${scenario.bundle} ${scenario.modelSha256.take(12)}..., the app carries " +
                "${manifest.name} ${manifest.modelSha256.take(12)}...: run `packager bundle` and `packager device farm game-loop` again, then rebuild")
        }
        return BenchRequest(
            requestId = "game-loop-scenario-${scenario.scenario}",
            bundle = scenario.bundle,
            modelPath = File(workDir, manifest.modelFile).path,
            modelSha256 = scenario.modelSha256,
            accelerator = scenario.accelerator,
            threads = scenario.threads,
            warmupRuns = scenario.warmupRuns,
            measuredRuns = scenario.measuredRuns,
            inputFiles = manifest.goldenInputs.map { File(workDir, it.file).path },
            outputDir = File(workDir, "out").path,
            saveOutputs = true,
            resultPath = File(workDir, "result.json").path,
            timeoutS = null,
        )
    }
}
