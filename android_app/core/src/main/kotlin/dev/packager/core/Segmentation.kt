package dev.packager.core

/** A segmenter's class mask: the class index at every pixel, row-major, [height] x [width]. */
class SegmentationMask(val height: Int, val width: Int, val classes: IntArray) {
    init { require(classes.size == height * width) { "${classes.size} classes for a ${width}x$height mask" } }

    operator fun get(y: Int, x: Int): Int = classes[y * width + x]
}

/**
 * A segmenter's output [1, H, W, C] (class scores at every pixel) read as a mask, with the same
 * numbers as packager/segmentation/masks.py: the argmax over the class axis, the first class on a
 * tie (numpy's argmax). A float32/float16 output is compared as it is; an int8/uint8 output is
 * dequantized with its scale and zero point first (a positive scale keeps the order, so the mask is
 * the same as the raw integers'; dequantizing keeps one code path for every dtype). A golden mask
 * stored compactly (uint8/uint16 [1, H, W]: packager's golden file for a segmenter) is read as it is.
 */
object SegmentationDecoder {
    fun decode(output: NdArray, quantization: Quantization?): SegmentationMask {
        val shape = output.shape
        if (shape.size == 3 || (shape.size == 4 && shape[3] == 1 && !output.dtype.isFloat)) {  // already a mask
            require(shape[0] == 1) { "one mask at a time, got ${shape.toList()}" }
            return SegmentationMask(shape[1], shape[2], IntArray(shape[1] * shape[2]) { output.getLong(it).toInt() })
        }
        require(shape.size == 4 && shape[0] == 1 && shape[3] >= 2) { "a segmenter's output is [1, H, W, classes], got ${shape.toList()}" }
        val (height, width, classes) = Triple(shape[1], shape[2], shape[3])
        val quantized = !output.dtype.isFloat && quantization != null && quantization.scale != 0.0
        val zp = quantization?.zeroPoint?.toDouble() ?: 0.0
        val scale = quantization?.scale ?: 1.0
        val out = IntArray(height * width)
        for (p in 0 until height * width) {
            var best = 0
            var bestValue = Double.NEGATIVE_INFINITY
            for (c in 0 until classes) {
                val raw = output.getDouble(p * classes + c)
                val value = if (quantized) (raw - zp) * scale else raw
                if (value > bestValue) { bestValue = value; best = c }  // strictly greater: the first class wins a tie
            }
            out[p] = best
        }
        return SegmentationMask(height, width, out)
    }

    fun decode(manifest: BundleManifest, output: NdArray): SegmentationMask = decode(output, manifest.outputs[0].quantization)

    /** The classes in the mask with the share of the pixels each covers, largest first (what the app lists). */
    fun classShares(mask: SegmentationMask, labels: List<String>): List<Category> {
        val counts = mask.classes.toList().groupingBy { it }.eachCount()
        return counts.entries.sortedWith(compareByDescending<Map.Entry<Int, Int>> { it.value }.thenBy { it.key })
            .map { (c, n) -> Category(c, labels.getOrNull(c) ?: "#$c", n.toFloat() / mask.classes.size) }
    }

    /** Share of the pixels whose classes are equal (the device kit's parity figure). */
    fun agreement(a: SegmentationMask, b: SegmentationMask): Double {
        require(a.height == b.height && a.width == b.width) { "masks of ${a.width}x${a.height} and ${b.width}x${b.height}" }
        return a.classes.indices.count { a.classes[it] == b.classes[it] }.toDouble() / a.classes.size
    }

    /** Mean over the classes present in either mask of |A and B| / |A or B| (masks.py's mean_iou). */
    fun meanIou(a: SegmentationMask, b: SegmentationMask, classes: Int): Double {
        require(a.height == b.height && a.width == b.width) { "masks of ${a.width}x${a.height} and ${b.width}x${b.height}" }
        val both = LongArray(classes)
        val either = LongArray(classes)
        for (i in a.classes.indices) {
            val p = a.classes[i]
            val e = b.classes[i]
            if (p == e) { both[p]++; either[p]++ } else { either[p]++; either[e]++ }
        }
        val present = (0 until classes).filter { either[it] > 0 }
        return if (present.isEmpty()) 1.0 else present.sumOf { both[it].toDouble() / either[it] } / present.size
    }
}

/**
 * A mask drawn over packed ARGB pixels (an Android Bitmap's getPixels): every pixel whose class is not
 * [background] blended with its class's colour (DetectionOverlay's palette) at [alpha]; the mask is
 * scaled to the image nearest-neighbour, as the model's input was resized from it.
 */
object SegmentationOverlay {
    fun blend(argb: IntArray, width: Int, height: Int, mask: SegmentationMask, alpha: Double = 0.5, background: Int = 0): IntArray {
        require(argb.size == width * height) { "${argb.size} pixels for a ${width}x$height image" }
        require(alpha in 0.0..1.0) { "alpha $alpha is not in 0..1" }
        val out = argb.copyOf()
        for (y in 0 until height) for (x in 0 until width) {
            val c = mask[minOf(y * mask.height / height, mask.height - 1), minOf(x * mask.width / width, mask.width - 1)]
            if (c == background) continue
            val i = y * width + x
            out[i] = mix(argb[i], DetectionOverlay.colourOf(c), alpha)
        }
        return out
    }

    private fun mix(under: Int, over: Int, alpha: Double): Int {
        fun channel(shift: Int): Int {
            val u = (under shr shift) and 0xff
            val o = (over shr shift) and 0xff
            return Math.round(u * (1 - alpha) + o * alpha).toInt() and 0xff
        }
        return (under and 0xff000000.toInt()) or (channel(16) shl 16) or (channel(8) shl 8) or channel(0)
    }
}
