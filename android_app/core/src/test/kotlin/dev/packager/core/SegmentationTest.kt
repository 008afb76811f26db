package dev.packager.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Test

class SegmentationTest {
    @Test
    fun maskIsTheArgmaxOverTheClassAxisFirstClassOnATie() {
        // 1 x 2 x 2 x 3 scores: pixel 0 -> 2, pixel 1 -> 0 (tie of 0 and 1), pixel 2 -> 1, pixel 3 -> 0
        val scores = floatArrayOf(0f, 1f, 5f, 3f, 3f, 1f, -1f, 2f, 0f, 9f, -9f, 8f)
        val mask = SegmentationDecoder.decode(NdArray.ofFloats(intArrayOf(1, 2, 2, 3), scores), null)
        assertEquals(2, mask.height)
        assertEquals(2, mask.width)
        assertArrayEquals(intArrayOf(2, 0, 1, 0), mask.classes)
    }

    @Test
    fun int8AndUint8OutputsAreDequantizedWithTheirZeroPoint() {
        // int8 read signed (-128 < 127; unsigned bytes would make it 128 > 127), uint8 read unsigned (200 > 10; signed bytes would make it -56)
        val int8 = NdArray.ofLongs(DType.INT8, intArrayOf(1, 1, 2, 2), longArrayOf(-128, 127, 100, -100))
        assertArrayEquals(intArrayOf(1, 0), SegmentationDecoder.decode(int8, Quantization(0.1, -128L)).classes)
        val uint8 = NdArray.ofLongs(DType.UINT8, intArrayOf(1, 1, 2, 2), longArrayOf(200, 10, 0, 255))
        assertArrayEquals(intArrayOf(0, 1), SegmentationDecoder.decode(uint8, Quantization(0.02, 128L)).classes)
    }

    @Test
    fun aCompactGoldenMaskIsReadAsItIs() {
        val golden = NdArray.ofLongs(DType.UINT8, intArrayOf(1, 2, 2), longArrayOf(0, 3, 20, 1))
        assertArrayEquals(intArrayOf(0, 3, 20, 1), SegmentationDecoder.decode(golden, null).classes)
    }

    @Test
    fun classSharesLargestFirstWithLabels() {
        val shares = SegmentationDecoder.classShares(SegmentationMask(1, 4, intArrayOf(2, 0, 2, 5)), listOf("bg", "a", "b"))
        assertEquals(listOf("b", "bg", "#5"), shares.map { it.label })
        assertEquals(0.5f, shares[0].score, 0f)
        assertEquals(listOf(2, 0, 5), shares.map { it.index })
    }

    @Test
    fun agreementAndMeanIou() {
        val a = SegmentationMask(1, 4, intArrayOf(0, 0, 1, 1))
        val b = SegmentationMask(1, 4, intArrayOf(0, 1, 1, 1))
        assertEquals(0.75, SegmentationDecoder.agreement(a, b), 1e-12)
        // class 0: 1 / 2, class 1: 2 / 3, class 2 absent from both
        assertEquals((0.5 + 2.0 / 3.0) / 2, SegmentationDecoder.meanIou(a, b, 3), 1e-12)
    }

    @Test
    fun overlayBlendsTheClassColourAndLeavesBackground() {
        val argb = IntArray(4 * 4) { 0xFF000000.toInt() }
        val mask = SegmentationMask(2, 2, intArrayOf(0, 1, 0, 0))  // upper right quarter is class 1, scaled to 4 x 4
        val out = SegmentationOverlay.blend(argb, 4, 4, mask, alpha = 1.0)
        assertEquals(DetectionOverlay.colourOf(1), out[0 * 4 + 3])
        assertEquals(DetectionOverlay.colourOf(1), out[1 * 4 + 2])
        assertEquals(0xFF000000.toInt(), out[0 * 4 + 1])
        assertEquals(0xFF000000.toInt(), out[3 * 4 + 3])
        val half = SegmentationOverlay.blend(argb, 4, 4, mask, alpha = 0.5)[3]
        assertEquals(Math.round(((DetectionOverlay.colourOf(1) shr 16) and 0xff) * 0.5).toInt(), (half shr 16) and 0xff)
        assertEquals(0xFF000000.toInt(), argb[3])  // the input is not changed
    }
}
