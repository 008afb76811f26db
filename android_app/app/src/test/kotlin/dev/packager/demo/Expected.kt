package dev.packager.demo

import android.os.Looper
import com.google.gson.JsonObject
import com.google.gson.JsonParser
import org.junit.Assert.fail
import org.robolectric.Shadows.shadowOf
import java.io.File

/**
 * What the Python side computed for the bundles installed in the assets (written by
 * tests/android/test_app_robolectric.py; its path in the system property packager.expected).
 */
object Expected {
    val json: JsonObject by lazy {
        val path = System.getProperty("packager.expected") ?: error("no packager.expected: run through tests/android/test_app_robolectric.py, or Gradle with -PpackagerExpected=FILE written by tests/android/robolectric_inputs.py (android_app/README.md)")
        JsonParser.parseString(File(path).readText()).asJsonObject
    }
    val out: File get() = File(json.get("out").asString)
}

/** Runs the main looper until [done] holds (coroutines on Dispatchers.IO/Default post back to it). */
fun <T> awaitMain(what: String, timeoutMs: Long = 20_000, read: () -> T, done: (T) -> Boolean): T {
    val end = System.currentTimeMillis() + timeoutMs
    while (true) {
        shadowOf(Looper.getMainLooper()).idle()
        val value = read()
        if (done(value)) return value
        if (System.currentTimeMillis() > end) fail("timed out waiting for $what; last: $value")
        Thread.sleep(5)
    }
}
