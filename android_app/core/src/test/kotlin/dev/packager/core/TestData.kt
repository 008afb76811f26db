package dev.packager.core

import java.io.File
import java.nio.file.Files

/** Shared fixtures for the unit tests: a valid manifest and a model-free inference session. */
object TestData {
    const val SHA = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

    fun manifestJson(
        name: String = "digits",
        inputDtype: String = "int8",
        quantization: String = """{"scale": 0.0078125, "zero_point": -1}""",
        preprocessing: String = """{"size": [8, 8], "color_space": "GRAYSCALE", "mean": [0.0], "std": [16.0], "resize_method": "bilinear", "layout": "NHWC"}""",
        modelFile: String = "digits.tflite",
        labels: String = """{"file": "labels.txt", "values": ["zero", "one", "two"]}""",
        outputs: String = """[{"name": "probs", "index": 7, "shape": [1, 3], "dtype": "int8", "quantization": {"scale": 0.00390625, "zero_point": -128}, "semantics": "probabilities"}]""",
    ) = """
    {
      "schema_version": 1, "name": "$name", "version": "1.0.0", "task": "image_classification",
      "created": "2025-01-01T00:00:00Z",
      "source": {"path": "model.keras", "format": "keras", "sha256": "$SHA", "size_bytes": 10},
      "model": {"file": "$modelFile", "sha256": "$SHA", "size_bytes": 1234},
      "recipe": {"name": "int8", "quant": "int8", "engine": "ai-edge-quantizer"},
      "inputs": [{"name": "image", "index": 0, "shape": [1, 8, 8, 1], "dtype": "$inputDtype", "quantization": $quantization, "semantics": "image"}],
      "outputs": $outputs,
      "preprocessing": $preprocessing,
      "labels": $labels,
      "metrics": {}, "selection": {}, "sizes": {}, "tools": {},
      "golden": {"count": 2, "inputs": [{"file": "golden/input_0.npy", "tensor": "image", "index": 0, "dtype": "$inputDtype", "shape": [2, 8, 8, 1]}],
                 "outputs": [{"file": "golden/output_0.npy", "tensor": "probs", "index": 7, "dtype": "int8", "shape": [2, 3]}],
                 "images": ["golden/images/0.png"]}
    }
    """.trimIndent()

    fun tempDir(): File = Files.createTempDirectory("core-test").toFile().also { it.deleteOnExit() }
}

/**
 * A model stand-in for testing the benchmark runner on the JVM (LiteRT's Android runtime cannot
 * load here): output k is input k, copied, so saved outputs can be checked against the inputs.
 * It refuses the accelerators in [unavailable] as a phone without them would.
 */
class EchoOpener(private val unavailable: Set<Accelerator> = emptySet(), private val delayNanos: Long = 0) : SessionOpener {
    val opened = mutableListOf<Accelerator>()
    var runs = 0

    override fun open(modelPath: String, accelerator: Accelerator, threads: Int): InferenceSession {
        if (accelerator in unavailable) throw IllegalStateException("${accelerator.id} is not available on this device")
        require(File(modelPath).isFile) { "no model at $modelPath" }
        opened += accelerator
        return object : InferenceSession {
            override val outcome = AcceleratorOutcome(accelerator, accelerator)
            override fun run(inputs: List<NdArray>): List<NdArray> {
                runs++
                if (delayNanos > 0) Thread.sleep(delayNanos / 1_000_000, (delayNanos % 1_000_000).toInt())
                return inputs.map { NdArray(it.dtype, it.shape, it.data.copyOf()) }
            }
            override fun close() {}
        }
    }
}
