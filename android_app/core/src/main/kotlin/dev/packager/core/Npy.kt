package dev.packager.core

import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * The .npy format (versions 1-3) for the golden files, benchmark inputs and outputs:
 * C order, little-endian, the dtypes of [DType]. No pickles, no Fortran order.
 */
object Npy {
    private val MAGIC = byteArrayOf(0x93.toByte(), 'N'.code.toByte(), 'U'.code.toByte(), 'M'.code.toByte(), 'P'.code.toByte(), 'Y'.code.toByte())
    private val DESCR = Regex("""['"]descr['"]\s*:\s*['"]([^'"]+)['"]""")
    private val FORTRAN = Regex("""['"]fortran_order['"]\s*:\s*(True|False)""")
    private val SHAPE = Regex("""['"]shape['"]\s*:\s*\(([^)]*)\)""")

    fun read(file: File): NdArray = try {
        parse(file.readBytes(), file.path)
    } catch (e: java.io.IOException) {
        throw ContractException("cannot read ${file.path} (${e.message})")
    }

    fun parse(bytes: ByteArray, what: String = ".npy data"): NdArray {
        if (bytes.size < 10 || !bytes.copyOfRange(0, 6).contentEquals(MAGIC)) throw ContractException("$what is not a .npy file")
        val major = bytes[6].toInt()
        val buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN)
        val (headerLen, headerStart) = when (major) {
            1 -> (buf.getShort(8).toInt() and 0xffff) to 10
            2, 3 -> buf.getInt(8) to 12
            else -> throw ContractException("$what: unsupported .npy version $major")
        }
        if (headerLen < 0 || headerStart + headerLen > bytes.size) throw ContractException("$what: truncated .npy header")
        val header = String(bytes, headerStart, headerLen, if (major == 3) Charsets.UTF_8 else Charsets.ISO_8859_1)
        val descr = DESCR.find(header)?.groupValues?.get(1) ?: throw ContractException("$what: .npy header has no descr")
        if (FORTRAN.find(header)?.groupValues?.get(1) == "True") throw ContractException("$what: Fortran-order .npy files are not supported")
        val shapeText = SHAPE.find(header)?.groupValues?.get(1) ?: throw ContractException("$what: .npy header has no shape")
        val shape = shapeText.split(',').map { it.trim() }.filter { it.isNotEmpty() }.map {
            it.removeSuffix("L").toIntOrNull() ?: throw ContractException("$what: bad .npy shape ($shapeText)")
        }.toIntArray()
        val dtype = DType.ofNpyDescr(descr)
        val count = shape.fold(1L) { a, d -> a * d }
        val dataStart = headerStart + headerLen
        val expected = count * dtype.itemSize
        if (bytes.size - dataStart.toLong() != expected) {
            throw ContractException("$what: expected $expected data bytes for ${shape.toList()} ${dtype.numpyName}, found ${bytes.size - dataStart}")
        }
        return NdArray(dtype, shape, bytes.copyOfRange(dataStart, bytes.size))
    }

    /** Version 1.0 bytes, header padded to a multiple of 64 as numpy writes it. */
    fun bytes(array: NdArray): ByteArray {
        val shapeText = when (array.shape.size) {
            0 -> "()"
            1 -> "(${array.shape[0]},)"
            else -> array.shape.joinToString(", ", "(", ")")
        }
        var header = "{'descr': '${array.dtype.npyDescr}', 'fortran_order': False, 'shape': $shapeText, }"
        val unpadded = MAGIC.size + 2 + 2 + header.length + 1
        header += " ".repeat((64 - unpadded % 64) % 64) + "\n"
        val out = ByteBuffer.allocate(MAGIC.size + 4 + header.length + array.data.size).order(ByteOrder.LITTLE_ENDIAN)
        out.put(MAGIC).put(1).put(0).putShort(header.length.toShort())
        out.put(header.toByteArray(Charsets.ISO_8859_1)).put(array.data)
        return out.array()
    }

    fun write(file: File, array: NdArray) = AtomicFiles.write(file, bytes(array))
}
