package dev.packager.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Test

class PostprocessTest {
    @Test fun tiesGoToTheLowerIndex() {
        val top = Postprocess.topK(floatArrayOf(0.1f, 0.5f, 0.2f, 0.5f, 0.5f), 3, listOf("a", "b", "c", "d", "e"))
        assertEquals(listOf(1, 3, 4), top.map { it.index })
        assertEquals(listOf("b", "d", "e"), top.map { it.label })
    }

    @Test fun negativeZeroEqualsZeroAndNanIsLast() {
        val top = Postprocess.topK(floatArrayOf(Float.NaN, -0.0f, 0.0f, -1f), 4, emptyList())
        assertEquals(listOf(1, 2, 3, 0), top.map { it.index })
        assertEquals("#1", top[0].label)
    }

    @Test fun kLargerThanTheClassesReturnsAll() {
        assertEquals(2, Postprocess.topK(floatArrayOf(1f, 2f), 5, emptyList()).size)
    }

    @Test fun dequantizesWithScaleAndZeroPoint() {
        val q = NdArray.ofLongs(DType.INT8, intArrayOf(1, 3), longArrayOf(-128, 0, 127))
        assertArrayEquals(floatArrayOf(0f, 0.5f, 0.99609375f), Postprocess.dequantize(q, Quantization(0.00390625, -128)), 0f)
        val f = NdArray.ofFloats(intArrayOf(2), floatArrayOf(0.25f, -1f))
        assertArrayEquals(floatArrayOf(0.25f, -1f), Postprocess.dequantize(f, Quantization(2.0, 3)), 0f)
    }

    @Test fun classifiesWithTheManifestsLabels() {
        val manifest = Manifests.parse(TestData.manifestJson())
        val out = NdArray.ofLongs(DType.INT8, intArrayOf(1, 3), longArrayOf(-100, 100, 0))
        val top = Postprocess.classify(manifest, listOf(out), 2)
        assertEquals(listOf("one", "two"), top.map { it.label })
        assertEquals(0.890625f, top[0].score, 0f)
    }
}
