package dev.packager.core

/** One class of a classification result. */
data class Category(val index: Int, val label: String, val score: Float)

object Postprocess {
    /** Integer tensor -> float32 real values, float32(float64(q - zero_point) * scale), as packager.preprocess.dequantize. */
    fun dequantize(tensor: NdArray, quantization: Quantization?): FloatArray {
        if (tensor.dtype.isFloat || quantization == null || quantization.scale == 0.0) return tensor.toFloatArray()
        val zp = quantization.zeroPoint.toDouble()
        return FloatArray(tensor.size) { ((tensor.getDouble(it) - zp) * quantization.scale).toFloat() }
    }

    /**
     * The k highest scores, highest first. Ties go to the lower index (numpy's stable argsort of
     * -scores); -0.0 equals 0.0; NaN sorts last.
     */
    fun topK(scores: FloatArray, k: Int, labels: List<String>): List<Category> {
        val order = scores.indices.sortedWith { a, b ->
            val x = scores[a]
            val y = scores[b]
            when {
                x.isNaN() && y.isNaN() -> 0
                x.isNaN() -> 1
                y.isNaN() -> -1
                x > y -> -1
                x < y -> 1
                else -> 0
            }
        }
        return order.take(k.coerceAtLeast(0)).map { Category(it, labels.getOrNull(it) ?: "#$it", scores[it]) }
    }

    /**
     * Output [index] of one inference (by default the one the labels belong to), dequantized, as
     * top-k categories with the manifest's labels ("#i" where there are none).
     */
    fun classify(manifest: BundleManifest, outputs: List<NdArray>, k: Int, index: Int = manifest.labelsOutputIndex): List<Category> {
        val spec = manifest.outputs[index]
        return topK(dequantize(outputs[index], spec.quantization), k, manifest.labels)
    }
}
