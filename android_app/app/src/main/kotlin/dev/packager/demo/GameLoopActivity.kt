package dev.packager.demo

import android.app.Activity
import android.os.Build
import android.os.Bundle
import android.util.Log
import dev.packager.core.BenchmarkRunner
import dev.packager.core.GameLoop
import dev.packager.core.Manifests
import java.io.File
import kotlin.concurrent.thread

/**
 * Firebase Test Lab's game loop (docs/DEVICE_FARMS.md): started with the action
 * com.google.intent.action.TEST_LOOP, the int extra "scenario" and a results file as the data URI,
 * as `adb shell am start -a com.google.intent.action.TEST_LOOP -n dev.packager.demo/.GameLoopActivity
 * --ei scenario 1 -d file:///sdcard/results.json` does locally. Runs the scenario's request (core's
 * GameLoop) on the bundle in the app's assets, writes the result to the results file and the outputs
 * to <external files>/packager-game-loop/scenario_N/, and finishes, which ends the loop.
 */
class GameLoopActivity : Activity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        if (savedInstanceState != null || intent.action != GameLoop.ACTION) {
            finish()
            return
        }
        val number = intent.getIntExtra(GameLoop.EXTRA_SCENARIO, 0)
        val results = intent.data
        thread(name = "packager-game-loop") {
            try {
                val scenario = GameLoop.parseScenarios(assets.open(GameLoop.SCENARIOS_ASSET).bufferedReader().use { it.readText() })[number]
                    ?: error("scenario $number is not in ${GameLoop.SCENARIOS_ASSET}")
                val folder = GameLoop.assetFolder(scenario)
                val manifest = Manifests.parse(assets.open("$folder/manifest.json").bufferedReader().use { it.readText() })
                val work = File(filesDir, "packager/game-loop/scenario_$number").apply { deleteRecursively(); mkdirs() }
                for (name in GameLoop.files(manifest)) {
                    val target = File(work, name).apply { parentFile?.mkdirs() }
                    assets.open("$folder/$name").use { input -> target.outputStream().use { input.copyTo(it) } }
                }
                val runner = BenchmarkRunner(
                    device = DeviceProbe.deviceInfo(),
                    opener = runtimes.create(applicationContext, { ModelSource.OnDisk(it) }, null, Build.VERSION.SDK_INT),
                    memory = DeviceProbe.ProcMemory,
                    runnerVersion = "dev.packager.demo ${BuildConfig.VERSION_NAME}",
                    allowedRoot = dataDir,
                )
                val result = runner.run(GameLoop.request(scenario, manifest, work))
                val outputs = File(getExternalFilesDir(null), "${GameLoop.OUTPUTS_FOLDER}/scenario_$number").apply { deleteRecursively(); mkdirs() }
                File(work, "out").listFiles()?.forEach { it.copyTo(File(outputs, it.name), overwrite = true) }
                if (results != null) {
                    contentResolver.openOutputStream(results, "w")?.use { it.write(result.toJson().toByteArray()) }
                } else {
                    Log.e(TAG, "scenario $number: no results file in the intent's data")
                }
                Log.i(TAG, "scenario $number: ${scenario.bundle} on ${scenario.accelerator.id}: ${result.status}")
            } catch (e: Exception) {
                Log.e(TAG, "game-loop scenario $number failed", e)
            }
            runOnUiThread { finish() }
        }
    }

    companion object {
        const val TAG = "PackagerBench"
    }
}
