package dev.packager.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Test

class PreprocessorTest {
    private fun spec(h: Int, w: Int, method: ResizeMethod = ResizeMethod.BILINEAR, color: ColorSpace = ColorSpace.GRAYSCALE,
                     mean: List<Double> = listOf(0.0), std: List<Double> = listOf(1.0)) =
        PreprocessingSpec(h, w, color, mean, std, method, "NHWC")

    @Test fun sameSizeIsNotResampled() {
        val px = Pixels(2, 2, 1, intArrayOf(0, 10, 20, 255))
        assertArrayEquals(doubleArrayOf(0.0, 10.0, 20.0, 255.0), Preprocessor.normalize(spec(2, 2), px), 0.0)
    }

    @Test fun bilinearUsesHalfPixelCenters() {
        // 1x2 -> 1x4: src x = (dst + 0.5) * 0.5 - 0.5 = -0.25 (clamped 0), 0.25, 0.75, 1.25 (clamped 1)
        val px = Pixels(1, 2, 1, intArrayOf(0, 100))
        assertArrayEquals(doubleArrayOf(0.0, 25.0, 75.0, 100.0), Preprocessor.resize(px, 1, 4, ResizeMethod.BILINEAR), 0.0)
    }

    @Test fun nearestPicksFloorOfTheCenter() {
        val px = Pixels(1, 4, 1, intArrayOf(1, 2, 3, 4))
        // 4 -> 3: floor((dst + 0.5) * 4/3) = 0, 2, 3
        assertArrayEquals(doubleArrayOf(1.0, 3.0, 4.0), Preprocessor.resize(px, 1, 3, ResizeMethod.NEAREST), 0.0)
    }

    @Test fun normalizesPerChannel() {
        val px = Pixels(1, 1, 3, intArrayOf(10, 20, 30))
        val out = Preprocessor.normalize(spec(1, 1, color = ColorSpace.RGB, mean = listOf(10.0, 10.0, 10.0), std = listOf(1.0, 2.0, 4.0)), px)
        assertArrayEquals(doubleArrayOf(0.0, 5.0, 5.0), out, 0.0)
    }

    @Test fun quantizesHalfToEvenAndClamps() {
        val q = Quantization(1.0, 0)
        val t = Preprocessor.toDType(doubleArrayOf(0.5, 1.5, 2.5, -0.5, -1.5, 300.0, -300.0), DType.INT8, q, intArrayOf(7))
        assertArrayEquals(longArrayOf(0, 2, 2, 0, -2, 127, -128), t.toLongArray())
        val u = Preprocessor.toDType(doubleArrayOf(-1.0, 0.0, 0.99), DType.UINT8, Quantization(1.0 / 128, 128), intArrayOf(3))
        assertArrayEquals(longArrayOf(0, 128, 255), u.toLongArray())
        assertThrows(ContractException::class.java) { Preprocessor.toDType(doubleArrayOf(1.0), DType.INT8, null, intArrayOf(1)) }
    }

    @Test fun grayscaleFromArgbKeepsGrayValuesExact() {
        val argb = IntArray(256) { v -> (0xff shl 24) or (v shl 16) or (v shl 8) or v }
        val px = Pixels.fromArgb(argb, 256, 1, ColorSpace.GRAYSCALE)
        assertArrayEquals(IntArray(256) { it }, px.values)
        val red = Pixels.fromArgb(intArrayOf(0xffff0000.toInt()), 1, 1, ColorSpace.GRAYSCALE)
        assertEquals(76, red.values[0]) // Pillow: (255 * 19595 + 0x8000) >> 16
        val rgb = Pixels.fromArgb(intArrayOf(0x80123456.toInt()), 1, 1, ColorSpace.RGB)
        assertArrayEquals(intArrayOf(0x12, 0x34, 0x56), rgb.values)
    }

    @Test fun wholePathFromManifest() {
        val manifest = Manifests.parse(TestData.manifestJson())
        val px = Pixels(8, 8, 1, IntArray(64) { it * 4 })
        val t = Preprocessor.inputFor(manifest, px)
        assertEquals(DType.INT8, t.dtype)
        assertArrayEquals(intArrayOf(1, 8, 8, 1), t.shape)
        // pixel 3 = 12 -> 12/16 = 0.75 -> /0.0078125 = 96 -> + (-1) = 95
        assertEquals(95L, t.getLong(3))
        val rgb = Pixels(8, 8, 3, IntArray(192))
        assertThrows(ContractException::class.java) { Preprocessor.inputFor(manifest, rgb) }
    }
}
