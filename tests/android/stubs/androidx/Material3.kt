// Stub for the app compile check (tests/android/test_app_compiles.py): declarations only, written
// from the AndroidX API reference for compose-material3 (Compose BOM 2026.04.01); upstream
// androidx/androidx. Not checked against that source here (see README, app section).
@file:Suppress("unused", "UNUSED_PARAMETER")
@file:JvmName("Material3Stubs")
package androidx.compose.material3

import androidx.compose.foundation.layout.PaddingValues
import androidx.compose.foundation.layout.RowScope
import androidx.compose.runtime.Composable
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.Color

class TextStyle
class Typography(val titleSmall: TextStyle, val bodyLarge: TextStyle)
class ColorScheme(val error: Color)

object MaterialTheme {
    val typography: Typography @Composable get() = throw NotImplementedError()
    val colorScheme: ColorScheme @Composable get() = throw NotImplementedError()
}

@Composable
fun MaterialTheme(content: @Composable () -> Unit): Unit = throw NotImplementedError()

@Composable
fun Scaffold(modifier: Modifier = Modifier, content: @Composable (PaddingValues) -> Unit): Unit = throw NotImplementedError()

@Composable
fun Text(text: String, modifier: Modifier = Modifier, color: Color = Color(0u), style: TextStyle = TextStyle()): Unit = throw NotImplementedError()

@Composable
fun Button(onClick: () -> Unit, modifier: Modifier = Modifier, enabled: Boolean = true, content: @Composable RowScope.() -> Unit): Unit = throw NotImplementedError()

@Composable
fun FilterChip(selected: Boolean, onClick: () -> Unit, label: @Composable () -> Unit, modifier: Modifier = Modifier, enabled: Boolean = true): Unit = throw NotImplementedError()
