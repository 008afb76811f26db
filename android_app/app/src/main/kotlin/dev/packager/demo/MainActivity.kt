package dev.packager.demo

import android.os.Build
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
import dev.packager.core.AcceleratorOutcome
import dev.packager.core.DetectionOverlay
import dev.packager.core.OpsSource
import dev.packager.core.RuntimeChoice

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
            Text(opsLine(outcome))
        }
        if (state.accelerator == Accelerator.NNAPI || state.outcome?.requested == Accelerator.NNAPI) {
            Text(RuntimeChoice.nnapiNote(Build.VERSION.SDK_INT), color = MaterialTheme.colorScheme.error)
        }
        Text("Sample image", style = MaterialTheme.typography.titleSmall)
        Choices(state.samples, state.sample, { it.substringAfterLast('/') }, vm::selectSample)
        (state.result?.overlay ?: state.preview)?.let {  // a detector's result: the sample with its boxes drawn
            Image(it.asImageBitmap(), contentDescription = state.sample, modifier = Modifier.size(160.dp), filterQuality = FilterQuality.None)
        }
        Button(onClick = vm::classify, enabled = !state.busy && state.preview != null && state.outcome != null) { Text("Classify") }
        state.result?.let { result ->
            result.categories.forEach { Text("%s  %.4f".format(it.label, it.score), style = MaterialTheme.typography.bodyLarge) }
            result.detections?.let { detections ->
                if (detections.isEmpty()) Text("No detection scores %.2f or more".format(MIN_DETECTION_SCORE))
                detections.forEach { d ->
                    Text("%s  %.3f  [%.2f, %.2f, %.2f, %.2f]".format(d.label ?: "#${d.classIndex}", d.score, d.box[0], d.box[1], d.box[2], d.box[3]),
                         style = MaterialTheme.typography.bodyLarge, color = androidx.compose.ui.graphics.Color(DetectionOverlay.colourOf(d.classIndex)))
                }
            }
            val ranOn = state.outcome?.applied?.id ?: "none"
            Text("Inference %.2f ms on %s, preprocessing %.2f ms".format(result.inferenceMs, ranOn, result.preprocessMs))
            state.outcome?.let { Text(opsLine(it)) }
        }
        state.error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
    }
}

/** How many of the model's operators the accelerator took, as the runtime said it, or why that is unknown. */
private fun opsLine(outcome: AcceleratorOutcome): String {
    val applied = outcome.applied?.id ?: "none"
    return when (outcome.opsSource) {
        OpsSource.UNKNOWN -> "Operators $applied took: unknown (${outcome.opsNote ?: "the runtime does not say"})"
        OpsSource.NO_DELEGATE -> "No delegate: the builtin kernels ran every operator"
        else -> "$applied took ${outcome.delegatedOps} of ${outcome.totalOps ?: "?"} operators (${outcome.opsSource.id})"
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
