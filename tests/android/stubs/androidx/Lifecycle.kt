// Stub for the app compile check (tests/android/test_app_compiles.py): declarations only, written
// from the AndroidX API reference for androidx.lifecycle 2.10.0 (lifecycle-viewmodel,
// lifecycle-viewmodel-ktx) and androidx.activity 1.12.4 (activity, activity-ktx,
// activity-compose); upstream androidx/androidx (AOSP androidx-main). Checked against
// androidx/androidx lifecycle/lifecycle-viewmodel/api/restricted_2.10.0-beta01.txt (the 2.10 API file,
// stored copy at commit a9b06aaf32db): AndroidViewModel(Application), getApplication<T>(),
// ViewModel.onCleared() (protected), ViewModel.viewModelScope. Not checked: anything else.
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
