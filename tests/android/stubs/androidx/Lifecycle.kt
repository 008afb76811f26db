// Stub for the app compile check (tests/android/test_app_compiles.py): declarations only, written
// from the AndroidX API reference for androidx.lifecycle 2.10.0 (lifecycle-viewmodel,
// lifecycle-viewmodel-ktx) and androidx.activity 1.12.4 (activity, activity-ktx,
// activity-compose); upstream androidx/androidx (AOSP androidx-main). Not checked against that
// source in this repository (see README, app section).
@file:Suppress("unused", "UNUSED_PARAMETER")
package androidx.lifecycle

import kotlinx.coroutines.CoroutineScope

abstract class ViewModel {
    protected open fun onCleared() {}
}

open class AndroidViewModel(application: android.app.Application) : ViewModel() {
    open fun <T : android.app.Application> getApplication(): T = throw NotImplementedError()
}

val ViewModel.viewModelScope: CoroutineScope get() = throw NotImplementedError()
