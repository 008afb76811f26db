package dev.packager.demo

import android.content.Context
import dev.packager.core.SessionOpener

/** Makes the [SessionOpener] the screen and the benchmark run models with. */
fun interface OpenerFactory {
    fun create(context: Context, sourceOf: (String) -> ModelSource, expected: IoSignature?, sdk: Int): SessionOpener
}

/** The app's runtimes: LiteRT's CompiledModel and TFLite's Interpreter ([LiteRtOpener]). */
object LiteRtRuntimes : OpenerFactory {
    override fun create(context: Context, sourceOf: (String) -> ModelSource, expected: IoSignature?, sdk: Int): SessionOpener =
        LiteRtOpener(context, sourceOf, expected, sdk)
}

/**
 * An Application that supplies the runtimes instead (the unit tests' does: Robolectric runs the app
 * on the JVM, where the runtimes' Android .so files cannot load).
 */
interface RuntimeProvider {
    val runtimes: OpenerFactory
}

/** The runtimes of this app: its Application's when it provides them, else LiteRT and TFLite. */
val Context.runtimes: OpenerFactory
    get() = (applicationContext as? RuntimeProvider)?.runtimes ?: LiteRtRuntimes
