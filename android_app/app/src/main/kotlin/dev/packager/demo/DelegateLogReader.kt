package dev.packager.demo

import android.os.Process
import android.util.Log
import dev.packager.core.DelegateLog
import java.util.UUID

/** Where the counts of a delegate's operators come from: TFLite's own log line (core's DelegateLog). */
interface DelegateLogReader {
    /** Log a unique marker line now and return it; only lines after it are this model's. */
    fun mark(): String

    /** The delegate's counts after [marker]; null when it logged none or the log cannot be read. */
    fun counts(marker: String, delegate: String): DelegateLog.Counts?
}

/**
 * This process's own logcat: an app may read its own lines without any permission. TFLite logs
 * "Replacing N out of M node(s) with delegate (...)" under the tag "tflite" at INFO on Android.
 */
object OwnLogcat : DelegateLogReader {
    private const val TAG = "PackagerOps"

    override fun mark(): String = "delegate marker ${UUID.randomUUID()}".also { Log.i(TAG, it) }

    override fun counts(marker: String, delegate: String): DelegateLog.Counts? = try {
        val command = arrayOf("logcat", "-d", "-v", "brief", "--pid=${Process.myPid()}", "$TAG:I", "tflite:I", "*:S")
        val process = Runtime.getRuntime().exec(command)
        val lines = process.inputStream.bufferedReader().use { it.readLines() }
        process.waitFor()
        DelegateLog.counts(lines, marker, delegate)
    } catch (e: Exception) {
        Log.w(TAG, "could not read this process's log: ${e.message}")
        null
    }
}
