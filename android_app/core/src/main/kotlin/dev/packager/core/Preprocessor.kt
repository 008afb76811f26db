package dev.packager.core

import kotlin.math.floor
import kotlin.math.min

/** Decoded pixels, height x width x channels in row-major HWC order, values 0..255. */
class Pixels(val height: Int, val width: Int, val channels: Int, val values: IntArray) {
    init {
        require(height > 0 && width > 0 && channels > 0) { "empty image ${width}x$height" }
        require(values.size == height * width * channels) { "${values.size} values for ${width}x${height}x$channels" }
    }

    operator fun get(y: Int, x: Int, c: Int): Int = values[(y * width + x) * channels + c]

    companion object {
        /**
         * Pixels from packed ARGB ints (Android's Bitmap.getPixels), converted to [colorSpace]. Alpha is
         * dropped as Pillow's RGBA -> RGB does; GRAYSCALE uses Pillow's "L" formula (ITU-R 601-2 luma
         * in 16-bit fixed point), so gray images keep their exact values.
         */
        fun fromArgb(argb: IntArray, width: Int, height: Int, colorSpace: ColorSpace): Pixels {
            require(argb.size == width * height) { "${argb.size} pixels for ${width}x$height" }
            val c = colorSpace.channels
            val out = IntArray(width * height * c)
            for (i in argb.indices) {
                val p = argb[i]
                val r = (p shr 16) and 0xff
                val g = (p shr 8) and 0xff
                val b = p and 0xff
                if (colorSpace == ColorSpace.RGB) {
                    out[i * 3] = r; out[i * 3 + 1] = g; out[i * 3 + 2] = b
                } else {
                    out[i] = (r * 19595 + g * 38470 + b * 7471 + 0x8000) shr 16
                }
            }
            return Pixels(height, width, c, out)
        }
    }
}

/**
 * The preprocessing contract of packager/preprocess.py, operation for operation in float64:
 * resize (half-pixel centers, no antialiasing) -> (value - mean[c]) / std[c] -> the input dtype
 * (float32 cast, or round-half-even quantization with scale and zero point, clamped).
 */
object Preprocessor {
    /** Pixels -> normalized float64 values of shape (height, width, channels) of [spec]. */
    fun normalize(spec: PreprocessingSpec, pixels: Pixels): DoubleArray {
        if (pixels.channels != spec.channels) {
            throw ContractException("the image has ${pixels.channels} channels but the model expects ${spec.colorSpace}")
        }
        val resized = resize(pixels, spec.height, spec.width, spec.resizeMethod)
        val c = spec.channels
        val mean = DoubleArray(c) { spec.meanOf(it) }
        val std = DoubleArray(c) { spec.stdOf(it) }
        for (i in resized.indices) {
            val ch = i % c
            resized[i] = (resized[i] - mean[ch]) / std[ch]
        }
        return resized
    }

    /** Resize to outH x outW; float64 values in HWC order. Same size: no resampling at all. */
    fun resize(pixels: Pixels, outH: Int, outW: Int, method: ResizeMethod): DoubleArray {
        val c = pixels.channels
        val out = DoubleArray(outH * outW * c)
        if (pixels.height == outH && pixels.width == outW) {
            for (i in out.indices) out[i] = pixels.values[i].toDouble()
            return out
        }
        if (method == ResizeMethod.NEAREST) {
            val ys = nearestIndex(pixels.height, outH)
            val xs = nearestIndex(pixels.width, outW)
            for (y in 0 until outH) for (x in 0 until outW) for (ch in 0 until c) {
                out[(y * outW + x) * c + ch] = pixels[ys[y], xs[x], ch].toDouble()
            }
            return out
        }
        val ty = BilinearTaps(pixels.height, outH)
        val tx = BilinearTaps(pixels.width, outW)
        for (y in 0 until outH) {
            val fy = ty.f[y]
            for (x in 0 until outW) {
                val fx = tx.f[x]
                for (ch in 0 until c) {
                    val top = pixels[ty.i0[y], tx.i0[x], ch].toDouble() * (1.0 - fx) + pixels[ty.i0[y], tx.i1[x], ch].toDouble() * fx
                    val bottom = pixels[ty.i1[y], tx.i0[x], ch].toDouble() * (1.0 - fx) + pixels[ty.i1[y], tx.i1[x], ch].toDouble() * fx
                    out[(y * outW + x) * c + ch] = top * (1.0 - fy) + bottom * fy
                }
            }
        }
        return out
    }

    /** src = (dst + 0.5) * (in / out) - 0.5 clamped to [0, in - 1]; i0 = floor(src), i1 = min(i0 + 1, in - 1). */
    private class BilinearTaps(sizeIn: Int, sizeOut: Int) {
        val i0 = IntArray(sizeOut)
        val i1 = IntArray(sizeOut)
        val f = DoubleArray(sizeOut)

        init {
            val ratio = sizeIn.toDouble() / sizeOut.toDouble()
            for (dst in 0 until sizeOut) {
                val src = ((dst.toDouble() + 0.5) * ratio - 0.5).coerceIn(0.0, (sizeIn - 1).toDouble())
                val lo = floor(src).toInt()
                i0[dst] = lo
                i1[dst] = min(lo + 1, sizeIn - 1)
                f[dst] = src - lo.toDouble()
            }
        }
    }

    private fun nearestIndex(sizeIn: Int, sizeOut: Int): IntArray {
        val ratio = sizeIn.toDouble() / sizeOut.toDouble()
        return IntArray(sizeOut) { dst -> min(floor((dst.toDouble() + 0.5) * ratio).toInt(), sizeIn - 1) }
    }

    /** Normalized values -> the tensor [input] takes (step 4 of the contract), with a batch of 1. */
    fun toInputTensor(normalized: DoubleArray, input: TensorSpec, spec: PreprocessingSpec): NdArray {
        val shape = intArrayOf(1, spec.height, spec.width, spec.channels)
        val expected = input.shape.map { if (it < 0) 1 else it }
        if (expected.fold(1L) { a, d -> a * d } != normalized.size.toLong()) {
            throw ContractException("input ${input.name} has shape ${input.shape} but the preprocessing makes ${shape.toList()}")
        }
        return toDType(normalized, input.dtype, input.quantization, shape)
    }

    /** float32/float16: a cast (nearest, ties to even). Integers: clamp(rint(x / scale) + zero_point). */
    fun toDType(normalized: DoubleArray, dtype: DType, quantization: Quantization?, shape: IntArray): NdArray = when (dtype) {
        DType.FLOAT32 -> NdArray.ofFloats(shape, FloatArray(normalized.size) { normalized[it].toFloat() })
        DType.FLOAT16 -> NdArray.ofLongs(DType.INT16, shape, LongArray(normalized.size) { Half.fromDouble(normalized[it]).toLong() })
            .let { NdArray(DType.FLOAT16, shape, it.data) }
        DType.INT8, DType.UINT8, DType.INT16 -> {
            val q = quantization ?: throw ContractException("integer input (${dtype.numpyName}) has no quantization scale")
            val scale = q.scale
            NdArray.ofLongs(dtype, shape, LongArray(normalized.size) {
                val v = Math.rint(normalized[it] / scale) + q.zeroPoint.toDouble()
                v.coerceIn(dtype.minValue.toDouble(), dtype.maxValue.toDouble()).toLong()
            })
        }
        else -> throw ContractException("input dtype ${dtype.numpyName} is not supported for image inputs")
    }

    /** The whole path for one image: pixels in the model's color space -> the model's first input tensor. */
    fun inputFor(manifest: BundleManifest, pixels: Pixels): NdArray {
        val spec = manifest.preprocessing ?: throw ContractException("bundle ${manifest.name} has no image preprocessing (it takes arrays)")
        return toInputTensor(normalize(spec, pixels), manifest.imageInput, spec)
    }
}
