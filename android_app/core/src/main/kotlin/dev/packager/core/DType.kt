package dev.packager.core

/** Tensor element types, named as numpy and the manifest name them. */
enum class DType(val numpyName: String, val npyDescr: String, val itemSize: Int, val minValue: Long, val maxValue: Long) {
    FLOAT32("float32", "<f4", 4, 0, 0),
    FLOAT16("float16", "<f2", 2, 0, 0),
    INT8("int8", "|i1", 1, -128, 127),
    UINT8("uint8", "|u1", 1, 0, 255),
    INT16("int16", "<i2", 2, -32768, 32767),
    INT32("int32", "<i4", 4, Int.MIN_VALUE.toLong(), Int.MAX_VALUE.toLong()),
    INT64("int64", "<i8", 8, Long.MIN_VALUE, Long.MAX_VALUE),
    BOOL("bool", "|b1", 1, 0, 1);

    val isFloat: Boolean get() = this == FLOAT32 || this == FLOAT16

    companion object {
        fun of(name: String): DType =
            entries.firstOrNull { it.numpyName == name } ?: throw ContractException("unknown dtype '$name'")

        /** A .npy header descr; any byte order mark is accepted for 1-byte types, little-endian otherwise. */
        fun ofNpyDescr(descr: String): DType {
            val normalized = if (descr.length == 3 && descr[2] == '1') "|" + descr.substring(1) else descr.replace('=', '<')
            return entries.firstOrNull { it.npyDescr == normalized }
                ?: throw ContractException("unsupported .npy dtype '$descr' (little-endian float32/float16/int8/uint8/int16/int32/int64/bool only)")
        }
    }
}
