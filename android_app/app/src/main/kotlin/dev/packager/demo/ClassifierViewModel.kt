package dev.packager.demo

import android.app.Application
import android.graphics.Bitmap
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import dev.packager.core.Accelerator
import dev.packager.core.AcceleratorOutcome
import dev.packager.core.InstalledBundle
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.ExperimentalCoroutinesApi
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

data class UiState(
    val bundles: List<InstalledBundle> = emptyList(),
    val bundle: InstalledBundle? = null,
    val accelerator: Accelerator = Accelerator.XNNPACK,
    val samples: List<String> = emptyList(),
    val sample: String? = null,
    val preview: Bitmap? = null,
    val outcome: AcceleratorOutcome? = null,
    val initMs: Double? = null,
    val result: Classification? = null,
    val busy: Boolean = false,
    val error: String? = null,
)

class ClassifierViewModel(application: Application) : AndroidViewModel(application) {
    private val repository = BundleRepository(application.assets)
    private val _state = MutableStateFlow(UiState())
    val state: StateFlow<UiState> = _state

    @OptIn(ExperimentalCoroutinesApi::class)
    private val modelThread = Dispatchers.Default.limitedParallelism(1)
    private var helper: ClassifierHelper? = null

    init {
        viewModelScope.launch {
            val bundles = withContext(Dispatchers.IO) { runCatching { repository.bundles() } }
            bundles.onSuccess { list ->
                _state.update { it.copy(bundles = list, error = if (list.isEmpty()) "No bundle installed: run `packager bundle dist/<name> --app android_app` and rebuild." else null) }
                list.firstOrNull()?.let(::selectBundle)
            }.onFailure { e -> _state.update { it.copy(error = "assets/models/index.json: ${e.message}") } }
        }
    }

    fun selectBundle(bundle: InstalledBundle) = reload { it.copy(bundle = bundle) }

    fun selectAccelerator(accelerator: Accelerator) = reload { it.copy(accelerator = accelerator) }

    /**
     * The previous sample's preview goes at once (Classify is disabled until the new one is decoded:
     * it would classify the old image under the new name); a decode that a newer choice overtook is dropped.
     */
    fun selectSample(path: String) {
        _state.update { it.copy(sample = path, preview = null, result = null) }
        viewModelScope.launch {
            val bitmap = withContext(Dispatchers.IO) { runCatching { repository.bitmap(path) } }
            _state.update { s -> if (s.sample != path) s else bitmap.fold({ s.copy(preview = it) }, { s.copy(error = it.message) }) }
        }
    }

    /** (Re)load the chosen bundle on the chosen accelerator; a fallback shows in state.outcome. */
    private fun reload(change: (UiState) -> UiState) {
        _state.update { change(it).copy(result = null, error = null) }
        val s = _state.value
        val bundle = s.bundle ?: return
        _state.update { it.copy(busy = true) }
        viewModelScope.launch {
            val loaded = withContext(modelThread) {
                runCatching {
                    helper?.close()
                    helper = null
                    val manifest = repository.manifest(bundle)
                    ClassifierHelper(getApplication<Application>(), bundle, manifest).also {
                        helper = it
                        it.load(s.accelerator, THREADS)
                    }
                }
            }
            loaded.onSuccess { h ->
                val samples = repository.samples(bundle, h.manifest)
                _state.update { it.copy(busy = false, outcome = h.outcome, initMs = h.initMs, samples = samples) }
                val current = _state.value.sample
                if (current == null || current !in samples) samples.firstOrNull()?.let(::selectSample)
            }.onFailure { e -> _state.update { it.copy(busy = false, outcome = null, error = "Could not load ${bundle.name}: ${e.message}") } }
        }
    }

    fun classify() {
        val bitmap = _state.value.preview ?: return
        _state.update { it.copy(busy = true, error = null) }
        viewModelScope.launch {
            val result = withContext(modelThread) { runCatching { helper!!.classify(bitmap, TOP_K) } }
            _state.update { s -> result.fold({ s.copy(busy = false, result = it) }, { s.copy(busy = false, error = it.message) }) }
        }
    }

    /** Closed on the model thread, after any load or classify still running there. */
    override fun onCleared() {
        CoroutineScope(modelThread).launch {
            helper?.close()
            helper = null
        }
    }

    private companion object {
        const val THREADS = 4
        const val TOP_K = 3
    }
}
