// Stub for the app compile check (tests/android/test_app_compiles.py): declarations only, written
// from the AndroidX API reference for compose-ui (Compose BOM 2026.04.01); upstream
// androidx/androidx. Not checked against that source here (see README, app section).
@file:Suppress("unused", "UNUSED_PARAMETER")
@file:JvmName("ComposeUiStubs")
package androidx.compose.ui

interface Modifier {
    companion object : Modifier
}
