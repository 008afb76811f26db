// Stub for the app compile check (tests/android/test_app_compiles.py): declarations only, written
// from the AndroidX API reference for androidx.activity 1.12.4 (activity, activity-ktx,
// activity-compose); upstream androidx/androidx. Not checked against that source here (see README).
@file:Suppress("unused", "UNUSED_PARAMETER")
package androidx.activity

open class ComponentActivity : android.app.Activity()

inline fun <reified VM : androidx.lifecycle.ViewModel> ComponentActivity.viewModels(
    noinline factoryProducer: (() -> Any)? = null,
): Lazy<VM> = throw NotImplementedError()
