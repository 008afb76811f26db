package dev.packager.core

import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * A dense C-order tensor as raw little-endian bytes: the form .npy files, LiteRT's byte buffers
 * and the golden files share, so no value is converted on the way between them.
 */
class NdArray(val dtype: DType, shape: IntArray, val data: ByteArray) {
    val shape: IntArray = shape.copyOf()
    val size: Int = shape.fold(1) { acc, d -> require(d >= 0) { "negative dimension in ${shape.toList()}" }; acc * d }
    private val buffer: ByteBuffer = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN)

    init {
        require(data.size == size * dtype.itemSize) {
            "${data.size} bytes do not hold ${shape.toList()} of ${dtype.numpyName}"
        }
    }

    /** Element i (flat, C order) as a double: exact for every type but int64 beyond 2^53. */
    fun getDouble(i: Int): Double = when (dtype) {
        DType.FLOAT32 -> buffer.getFloat(i * 4).toDouble()
        DType.FLOAT16 -> Half.toFloat(buffer.getShort(i * 2)).toDouble()
        DType.INT8 -> data[i].toDouble()
        DType.UINT8 -> (data[i].toInt() and 0xff).toDouble()
        DType.INT16 -> buffer.getShort(i * 2).toDouble()
        DType.INT32 -> buffer.getInt(i * 4).toDouble()
        DType.INT64 -> buffer.getLong(i * 8).toDouble()
        DType.BOOL -> if (data[i].toInt() != 0) 1.0 else 0.0
    }

    /** Element i of an integer tensor. */
    fun getLong(i: Int): Long = when (dtype) {
        DType.INT8 -> data[i].toLong()
        DType.UINT8 -> (data[i].toInt() and 0xff).toLong()
        DType.INT16 -> buffer.getShort(i * 2).toLong()
        DType.INT32 -> buffer.getInt(i * 4).toLong()
        DType.INT64 -> buffer.getLong(i * 8)
        DType.BOOL -> if (data[i].toInt() != 0) 1L else 0L
        DType.FLOAT32, DType.FLOAT16 -> throw IllegalStateException("getLong on a ${dtype.numpyName} tensor")
    }

    fun toFloatArray(): FloatArray = FloatArray(size) { getDouble(it).toFloat() }

    fun toIntArray(): IntArray = IntArray(size) { getLong(it).toInt() }

    fun toLongArray(): LongArray = LongArray(size) { getLong(it) }

    /** A little-endian direct buffer with this tensor's bytes, as LiteRT's Interpreter takes them. */
    fun toDirectBuffer(): ByteBuffer =
        ByteBuffer.allocateDirect(data.size).order(ByteOrder.nativeOrder()).also { out ->
            if (ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN || dtype.itemSize == 1) {
                out.put(data)
            } else {
                for (i in 0 until size) out.put(toBigEndian(i))
            }
            out.rewind()
        }

    private fun toBigEndian(i: Int): ByteArray = data.copyOfRange(i * dtype.itemSize, (i + 1) * dtype.itemSize).reversedArray()

    /** Number of rows along the first axis (the batch). */
    val rows: Int get() = if (shape.isEmpty()) 1 else shape[0]

    /** Row i along the first axis, keeping a batch dimension of 1. */
    fun row(i: Int): NdArray {
        require(shape.isNotEmpty() && i in 0 until shape[0]) { "row $i of shape ${shape.toList()}" }
        val rowBytes = data.size / shape[0]
        val rowShape = shape.copyOf().also { it[0] = 1 }
        return NdArray(dtype, rowShape, data.copyOfRange(i * rowBytes, (i + 1) * rowBytes))
    }

    fun reshape(newShape: IntArray): NdArray = NdArray(dtype, newShape, data)

    override fun toString(): String = "NdArray(${dtype.numpyName}, ${shape.toList()})"

    companion object {
        fun ofFloats(shape: IntArray, values: FloatArray): NdArray {
            val buf = ByteBuffer.allocate(values.size * 4).order(ByteOrder.LITTLE_ENDIAN)
            values.forEach { buf.putFloat(it) }
            return NdArray(DType.FLOAT32, shape, buf.array())
        }

        /** Integer values (already in range) stored as [dtype]. */
        fun ofLongs(dtype: DType, shape: IntArray, values: LongArray): NdArray {
            val buf = ByteBuffer.allocate(values.size * dtype.itemSize).order(ByteOrder.LITTLE_ENDIAN)
            for (v in values) {
                require(dtype.isFloat || v in dtype.minValue..dtype.maxValue) { "$v does not fit ${dtype.numpyName}" }
                when (dtype.itemSize) {
                    1 -> buf.put(v.toByte())
                    2 -> buf.putShort(v.toShort())
                    4 -> buf.putInt(v.toInt())
                    else -> buf.putLong(v)
                }
            }
            return NdArray(dtype, shape, buf.array())
        }

        /** Raw little-endian bytes, e.g. what LiteRT's readInt8 returns for an int8/uint8 tensor. */
        fun ofBytes(dtype: DType, shape: IntArray, bytes: ByteArray) = NdArray(dtype, shape, bytes)

        /** Concatenate arrays along the first axis (each a batch of rows). */
        fun concat(parts: List<NdArray>): NdArray {
            require(parts.isNotEmpty()) { "nothing to concatenate" }
            val first = parts[0]
            val tail = first.shape.drop(1)
            for (p in parts) require(p.dtype == first.dtype && p.shape.drop(1) == tail) { "cannot stack $p onto $first" }
            val shape = intArrayOf(parts.sumOf { it.rows }) + tail.toIntArray()
            val out = java.io.ByteArrayOutputStream()
            parts.forEach { out.write(it.data) }
            return NdArray(first.dtype, shape, out.toByteArray())
        }
    }
}

/** IEEE 754 half precision, done by hand since core runs on JVMs without Float.float16ToFloat. */
object Half {
    fun toFloat(bits: Short): Float {
        val h = bits.toInt() and 0xffff
        val sign = if (h and 0x8000 != 0) -1.0f else 1.0f
        val exp = (h shr 10) and 0x1f
        val mant = h and 0x3ff
        return when (exp) {
            0 -> sign * mant * Math.scalb(1.0f, -24)
            0x1f -> if (mant == 0) sign * Float.POSITIVE_INFINITY else Float.NaN
            else -> sign * (1024 + mant) * Math.scalb(1.0f, exp - 25)
        }
    }

    /** Nearest half to [value], ties to even, as numpy's float64 -> float16 cast. */
    fun fromDouble(value: Double): Short {
        if (value.isNaN()) return 0x7e00
        val sign = if (value < 0 || (value == 0.0 && 1.0 / value < 0)) 0x8000 else 0
        val a = Math.abs(value)
        val magnitude: Int = when {
            a.isInfinite() -> 0x7c00
            a < Math.scalb(1.0, -14) -> Math.rint(a * Math.scalb(1.0, 24)).toInt() // subnormal (or rounds up to the smallest normal)
            else -> {
                var e = Math.getExponent(a)
                var m = Math.rint(a * Math.scalb(1.0, 10 - e)) // exact scaling, then ties-to-even
                if (m >= 2048.0) { e += 1; m /= 2.0 }
                if (e + 15 >= 0x1f) 0x7c00 else ((e + 15) shl 10) or (m.toInt() - 1024)
            }
        }
        return (sign or magnitude).toShort()
    }
}
