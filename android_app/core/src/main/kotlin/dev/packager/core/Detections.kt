package dev.packager.core

/** One detected object: box (ymin, xmin, ymax, xmax) normalized to 0..1, class index, label, score. */
data class Detection(val box: DoubleArray, val classIndex: Int, val label: String?, val score: Double)

/**
 * A detector's four outputs (TFLite_Detection_PostProcess: location [1, M, 4], category [1, M],
 * score [1, M], number of detections [1]) read as detections, with the same numbers as
 * packager/detection/decode.py: each output dequantized with its own scale and zero point when it
 * is an integer tensor, the first `count` rows (count rounded half to even, clipped to 0..M),
 * those under [minScore] dropped, boxes clipped to [0, 1], class rounded to the nearest index.
 */
object DetectionDecoder {
    private fun real(tensor: NdArray, quantization: Quantization?): DoubleArray {
        if (tensor.dtype.isFloat || quantization == null || quantization.scale == 0.0) return DoubleArray(tensor.size) { tensor.getDouble(it) }
        val zp = quantization.zeroPoint.toDouble()
        return DoubleArray(tensor.size) { (tensor.getDouble(it) - zp) * quantization.scale }
    }

    /** The detections of one inference; [outputs] in the manifest's order (location, category, score, count). */
    fun decode(outputs: List<NdArray>, specs: List<TensorSpec>, labels: List<String>, minScore: Double = 0.0): List<Detection> {
        require(outputs.size >= 4 && specs.size >= 4) { "a detector has four outputs, got ${outputs.size}" }
        val boxes = real(outputs[0], specs[0].quantization)
        val classes = real(outputs[1], specs[1].quantization)
        val scores = real(outputs[2], specs[2].quantization)
        val count = Math.rint(real(outputs[3], specs[3].quantization)[0]).coerceIn(0.0, scores.size.toDouble()).toInt()
        return (0 until count).filter { scores[it] >= minScore }.map { i ->
            val c = Math.rint(classes[i]).toInt()
            Detection(DoubleArray(4) { k -> boxes[i * 4 + k].coerceIn(0.0, 1.0) }, c, labels.getOrNull(c), scores[i])
        }
    }

    fun decode(manifest: BundleManifest, outputs: List<NdArray>, minScore: Double = 0.0): List<Detection> =
        decode(outputs, manifest.outputs, manifest.labels, minScore)
}
