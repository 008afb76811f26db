// Stub for the app compile check (tests/android/test_app_compiles.py): declarations only, written
// from the AndroidX API reference for compose-ui-unit (Compose BOM 2026.04.01); upstream
// androidx/androidx. Not checked against that source here (see README, app section).
@file:Suppress("unused", "UNUSED_PARAMETER")
@file:JvmName("ComposeUnitStubs")
package androidx.compose.ui.unit

@JvmInline value class Dp(val value: Float)

val Int.dp: Dp get() = Dp(toFloat())
