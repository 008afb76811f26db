package dev.packager.core

import org.junit.Assert.assertEquals
import org.junit.Test

class DetectionTest {
    private fun spec(name: String, dtype: DType, shape: IntArray, q: Quantization? = null) =
        TensorSpec(name, 0, shape.toList(), dtype, q, "other")

    @Test
    fun decodesTheFirstCountRowsDequantizedAndClipped() {
        val specs = listOf(spec("location", DType.INT8, intArrayOf(1, 3, 4), Quantization(0.01, 0L)), spec("category", DType.FLOAT32, intArrayOf(1, 3)),
            spec("score", DType.FLOAT32, intArrayOf(1, 3)), spec("number_of_detections", DType.FLOAT32, intArrayOf(1)))
        val outputs = listOf(
            NdArray.ofLongs(DType.INT8, intArrayOf(1, 3, 4), longArrayOf(10, 20, 50, 120, -5, 0, 30, 40, 0, 0, 1, 1)),
            NdArray.ofFloats(intArrayOf(1, 3), floatArrayOf(1f, 0f, 2f)),
            NdArray.ofFloats(intArrayOf(1, 3), floatArrayOf(0.9f, 0.2f, 0.8f)),
            NdArray.ofFloats(intArrayOf(1), floatArrayOf(2f)))
        val found = DetectionDecoder.decode(outputs, specs, listOf("a", "b"), minScore = 0.1)
        assertEquals(2, found.size)  // the third row is past the count
        assertEquals(listOf(0.1, 0.2, 0.5, 1.0), found[0].box.toList().map { Math.round(it * 1e6) / 1e6 })  // 1.2 clipped to 1
        assertEquals("b", found[0].label)
        assertEquals(1, found[0].classIndex)
        assertEquals(0.0, found[1].box[0], 0.0)  // -0.05 clipped to 0
        assertEquals(1, DetectionDecoder.decode(outputs, specs, listOf("a", "b"), minScore = 0.5).size)
    }

    @Test
    fun outlineDrawsOnlyTheEdges() {
        val w = 10
        val h = 10
        val argb = IntArray(w * h) { 7 }
        val out = DetectionOverlay.outline(argb, w, h, listOf(Detection(doubleArrayOf(0.2, 0.2, 0.8, 0.8), 1, "b", 0.9)), thickness = 1)
        val c = DetectionOverlay.colourOf(1)
        assertEquals(c, out[2 * w + 2])
        assertEquals(c, out[8 * w + 5])
        assertEquals(7, out[5 * w + 5])  // inside
        assertEquals(7, out[0])  // outside
        assertEquals(7, argb[2 * w + 2])  // the input is not changed
    }
}
