// Stub for the app compile check (tests/android/test_app_compiles.py): declarations only, written
// from the AndroidX API reference for compose-foundation-layout (Compose BOM 2026.04.01); upstream
// androidx/androidx. Not checked against that source here (see README, app section).
@file:Suppress("unused", "UNUSED_PARAMETER")
@file:JvmName("FoundationLayoutStubs")
package androidx.compose.foundation.layout

import androidx.compose.runtime.Composable
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.Dp

interface PaddingValues

object Arrangement {
    interface Horizontal
    interface Vertical
    interface HorizontalOrVertical : Horizontal, Vertical
    val Top: Vertical get() = throw NotImplementedError()
    val Start: Horizontal get() = throw NotImplementedError()
    fun spacedBy(space: Dp): HorizontalOrVertical = throw NotImplementedError()
}

interface ColumnScope
interface RowScope

@Composable
fun Column(modifier: Modifier = Modifier, verticalArrangement: Arrangement.Vertical = Arrangement.Top, content: @Composable ColumnScope.() -> Unit): Unit = throw NotImplementedError()

@Composable
fun Row(modifier: Modifier = Modifier, horizontalArrangement: Arrangement.Horizontal = Arrangement.Start, content: @Composable RowScope.() -> Unit): Unit = throw NotImplementedError()

fun Modifier.fillMaxSize(fraction: Float = 1f): Modifier = throw NotImplementedError()
fun Modifier.padding(all: Dp): Modifier = throw NotImplementedError()
fun Modifier.padding(paddingValues: PaddingValues): Modifier = throw NotImplementedError()
fun Modifier.size(size: Dp): Modifier = throw NotImplementedError()
