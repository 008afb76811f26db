package dev.packager.demo

import android.app.Activity
import android.os.Build
import android.os.Bundle
import android.util.Log
import dev.packager.core.BenchmarkRunner
import java.io.File
import kotlin.concurrent.thread

/**
 * Headless benchmark entry point (docs/CONTRACTS.md, contract 2). Started by the device kit with
 * `am start -W -n dev.packager.demo/.BenchmarkActivity --esa requests /abs/a.json,/abs/b.json`;
 * runs each request in order, writes each result JSON atomically where the request says, and
 * finishes. Only files inside the app's data folder are read or written.
 */
class BenchmarkActivity : Activity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        if (savedInstanceState != null) {
            // Recreated (rotation, process kept): the first instance's thread already runs the
            // requests; running them again would overwrite their results with a second run.
            Log.i(TAG, "recreated: not running the requests again")
            return
        }
        val requests = intent.getStringArrayExtra(EXTRA_REQUESTS)?.filter { it.isNotBlank() }.orEmpty()
        if (requests.isEmpty()) {
            Log.e(TAG, "no requests: pass --esa $EXTRA_REQUESTS /abs/request.json[,...]")
            finish()
            return
        }
        thread(name = "packager-benchmark") {
            val runner = BenchmarkRunner(
                device = DeviceProbe.deviceInfo(),
                opener = runtimes.create(applicationContext, { ModelSource.OnDisk(it) }, null, Build.VERSION.SDK_INT),
                memory = DeviceProbe.ProcMemory,
                runnerVersion = "dev.packager.demo ${BuildConfig.VERSION_NAME}",
                allowedRoot = dataDir,
            )
            for (path in requests) {
                Log.i(TAG, "running $path")
                val written = try {
                    runner.runFile(File(path))
                } catch (e: Throwable) {
                    Log.e(TAG, "request $path crashed", e)
                    null
                }
                if (written == null) Log.e(TAG, "no result written for $path (unreadable request, or a path outside ${dataDir.path})")
                else Log.i(TAG, "result ${written.path}")
            }
            runOnUiThread { finish() }
        }
    }

    companion object {
        const val TAG = "PackagerBench"
        const val EXTRA_REQUESTS = "requests"
    }
}
