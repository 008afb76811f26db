package dev.packager.demo

import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.activity.viewModels
import androidx.compose.foundation.Image
import androidx.compose.foundation.horizontalScroll
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.size
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.FilterChip
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.FilterQuality
import androidx.compose.ui.graphics.asImageBitmap
import androidx.compose.ui.unit.dp
import dev.packager.core.Accelerator

/** Thin UI over [ClassifierViewModel]: pick bundle, accelerator and sample; see top-k and latency. */
class MainActivity : ComponentActivity() {
    private val viewModel: ClassifierViewModel by viewModels()

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContent {
            MaterialTheme {
                Scaffold { padding ->
                    val state by viewModel.state.collectAsState()
                    ClassifierScreen(state, viewModel, Modifier.padding(padding))
                }
            }
        }
    }
}

@Composable
private fun ClassifierScreen(state: UiState, vm: ClassifierViewModel, modifier: Modifier = Modifier) {
    Column(modifier.fillMaxSize().padding(16.dp).verticalScroll(rememberScrollState()), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        Text("Bundle", style = MaterialTheme.typography.titleSmall)
        Choices(state.bundles, state.bundle, { "${it.name} ${it.version}" }, vm::selectBundle)
        Text("Accelerator", style = MaterialTheme.typography.titleSmall)
        Choices(Accelerator.entries, state.accelerator, { it.id }, vm::selectAccelerator)
        state.outcome?.let { outcome ->
            val applied = outcome.applied?.id ?: "none"
            if (outcome.fallbackReason != null) {
                Text("${outcome.requested.id} did not apply, running on $applied: ${outcome.fallbackReason}", color = MaterialTheme.colorScheme.error)
            } else {
                Text("Running on $applied (init %.1f ms)".format(state.initMs ?: 0.0))
            }
            val ops = outcome.delegatedOps
            Text(if (ops != null) "$applied took $ops of ${outcome.totalOps ?: "?"} operators" else "Operators $applied took: unknown (LiteRT does not report it)")
            if (outcome.requested == Accelerator.NNAPI) {
                Text("NNAPI is deprecated from Android 15, and this build has no NNAPI delegate (see README)", color = MaterialTheme.colorScheme.error)
            }
        }
        Text("Sample image", style = MaterialTheme.typography.titleSmall)
        Choices(state.samples, state.sample, { it.substringAfterLast('/') }, vm::selectSample)
        state.preview?.let {
            Image(it.asImageBitmap(), contentDescription = state.sample, modifier = Modifier.size(160.dp), filterQuality = FilterQuality.None)
        }
        Button(onClick = vm::classify, enabled = !state.busy && state.preview != null && state.outcome != null) { Text("Classify") }
        state.result?.let { result ->
            result.categories.forEach { Text("%s  %.4f".format(it.label, it.score), style = MaterialTheme.typography.bodyLarge) }
            Text("Inference %.2f ms, preprocessing %.2f ms".format(result.inferenceMs, result.preprocessMs))
        }
        state.error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
    }
}

@Composable
private fun <T> Choices(options: List<T>, selected: T?, label: (T) -> String, onSelect: (T) -> Unit) {
    Row(Modifier.horizontalScroll(rememberScrollState()), horizontalArrangement = Arrangement.spacedBy(8.dp)) {
        options.forEach { option ->
            FilterChip(selected = option == selected, onClick = { onSelect(option) }, label = { Text(label(option)) })
        }
    }
}
