package dev.packager.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test

class NpyTest {
    @Test fun roundTripsEveryDtype() {
        for (dtype in DType.entries) {
            val values = LongArray(6) { (it - 2).toLong().coerceIn(if (dtype == DType.UINT8 || dtype == DType.BOOL) 0 else -2, 1) }
            val array = if (dtype.isFloat) Preprocessor.toDType(DoubleArray(6) { it * 0.25 - 0.5 }, dtype, null, intArrayOf(2, 3))
            else NdArray.ofLongs(dtype, intArrayOf(2, 3), values)
            val bytes = Npy.bytes(array)
            assertEquals("header is 64-byte aligned for ${dtype.numpyName}", 0, (bytes.size - array.data.size) % 64)
            val back = Npy.parse(bytes)
            assertEquals(dtype, back.dtype)
            assertArrayEquals(intArrayOf(2, 3), back.shape)
            assertArrayEquals(array.data, back.data)
        }
    }

    @Test fun writesNumpysHeaderText() {
        val text = String(Npy.bytes(NdArray.ofFloats(intArrayOf(3), floatArrayOf(1f, 2f, 3f))), Charsets.ISO_8859_1)
        assertTrue(text, text.contains("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"))
    }

    @Test fun rejectsWhatItCannotRead() {
        val good = Npy.bytes(NdArray.ofFloats(intArrayOf(2), floatArrayOf(1f, 2f)))
        assertThrows(ContractException::class.java) { Npy.parse(good.copyOf(good.size - 1)) }
        assertThrows(ContractException::class.java) { Npy.parse("not numpy".toByteArray()) }
        val fortran = String(good, Charsets.ISO_8859_1).replace("'fortran_order': False", "'fortran_order': True ").toByteArray(Charsets.ISO_8859_1)
        assertThrows(ContractException::class.java) { Npy.parse(fortran) }
        val bigEndian = String(good, Charsets.ISO_8859_1).replace("<f4", ">f4").toByteArray(Charsets.ISO_8859_1)
        assertThrows(ContractException::class.java) { Npy.parse(bigEndian) }
    }

    @Test fun halfPrecisionRoundsToNearestEven() {
        assertEquals(0x3c00, Half.fromDouble(1.0).toInt() and 0xffff)
        assertEquals(0x7bff, Half.fromDouble(65504.0).toInt() and 0xffff)
        assertEquals(0x7c00, Half.fromDouble(65520.0).toInt() and 0xffff) // halfway to 65536: rounds up to infinity
        assertEquals(0x3c00, Half.fromDouble(1.0 + Math.scalb(1.0, -11)).toInt() and 0xffff) // tie -> even mantissa
        assertEquals(0x3c02, Half.fromDouble(1.0 + 3 * Math.scalb(1.0, -11)).toInt() and 0xffff) // tie -> even (up)
        assertEquals(0x0001, Half.fromDouble(Math.scalb(1.0, -24)).toInt() and 0xffff)
        assertEquals(0x8000, Half.fromDouble(-0.0).toInt() and 0xffff)
        for (bits in listOf(0x3c00, 0x0001, 0x7bff, 0xc000, 0x3555)) {
            assertEquals(bits, Half.fromDouble(Half.toFloat(bits.toShort()).toDouble()).toInt() and 0xffff)
        }
    }
}
