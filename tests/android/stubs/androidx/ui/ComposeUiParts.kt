// Stub for the app compile check (tests/android/test_app_compiles.py): declarations only, written
// from the AndroidX API reference for compose-ui and compose-ui-graphics (Compose BOM 2026.04.01);
// upstream androidx/androidx. Not checked against that source here (see README, app section).
@file:Suppress("unused", "UNUSED_PARAMETER")
@file:JvmName("ComposeUiGraphicsStubs")
package androidx.compose.ui.graphics

@JvmInline value class Color(val value: ULong)

fun Color(color: Int): Color = throw NotImplementedError()  // a packed ARGB colour

@JvmInline value class FilterQuality(val value: Int) {
    companion object {
        val None = FilterQuality(0)
        val Low = FilterQuality(1)
    }
}

interface ImageBitmap

fun android.graphics.Bitmap.asImageBitmap(): ImageBitmap = throw NotImplementedError()
