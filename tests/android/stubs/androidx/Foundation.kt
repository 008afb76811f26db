// Stub for the app compile check (tests/android/test_app_compiles.py): declarations only, written
// from the AndroidX API reference for compose-foundation and compose-foundation-layout (Compose BOM
// 2026.04.01); upstream androidx/androidx. Not checked against that source here (see README).
@file:Suppress("unused", "UNUSED_PARAMETER")
@file:JvmName("FoundationStubs")
package androidx.compose.foundation

import androidx.compose.runtime.Composable
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.FilterQuality
import androidx.compose.ui.graphics.ImageBitmap

class ScrollState(initial: Int)

@Composable
fun rememberScrollState(initial: Int = 0): ScrollState = throw NotImplementedError()

fun Modifier.verticalScroll(state: ScrollState, enabled: Boolean = true, reverseScrolling: Boolean = false): Modifier = throw NotImplementedError()

fun Modifier.horizontalScroll(state: ScrollState, enabled: Boolean = true, reverseScrolling: Boolean = false): Modifier = throw NotImplementedError()

@Composable
fun Image(
    bitmap: ImageBitmap,
    contentDescription: String?,
    modifier: Modifier = Modifier,
    alpha: Float = 1.0f,
    filterQuality: FilterQuality = FilterQuality.Low,
): Unit = throw NotImplementedError()
