// Stub for the app compile check (tests/android/test_app_compiles.py): declarations only, written
// from the AndroidX API reference for androidx.activity:activity-compose 1.12.4; upstream
// androidx/androidx. Checked against androidx/androidx activity/activity-compose/api/1.11.0-beta01.txt
// (stored copy at commit 31adf48a5ba2; the 1.12 API file is not stored here, and AndroidX's semantic
// versioning keeps 1.11's public API in 1.12): ComponentActivity.setContent(parent, content), whose
// parent upstream is CompositionContext? (Any? here: the app never passes it).
@file:Suppress("unused", "UNUSED_PARAMETER")
package androidx.activity.compose

import androidx.activity.ComponentActivity
import androidx.compose.runtime.Composable

fun ComponentActivity.setContent(parent: Any? = null, content: @Composable () -> Unit): Unit = throw NotImplementedError()
