// Stub for the app compile check (tests/android/test_app_compiles.py): declarations only, written
// from the AndroidX API reference for androidx.activity:activity-compose 1.12.4; upstream
// androidx/androidx. Not checked against that source here (see README).
@file:Suppress("unused", "UNUSED_PARAMETER")
package androidx.activity.compose

import androidx.activity.ComponentActivity
import androidx.compose.runtime.Composable

fun ComponentActivity.setContent(parent: Any? = null, content: @Composable () -> Unit): Unit = throw NotImplementedError()
