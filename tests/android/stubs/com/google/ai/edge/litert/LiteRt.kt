// Stub for the app compile check (tests/android/test_app_compiles.py): declarations only, written
// from the public signatures in google-ai-edge/LiteRT at tag v2.2.0 (litert/kotlin/src/main/kotlin/
// com/google/ai/edge/litert/), the artifact com.google.ai.edge.litert:litert:2.2.0. Only what the
// app calls; bodies throw.
package com.google.ai.edge.litert

import android.content.Context

/** Common.kt */
enum class Accelerator(val value: Int) { NONE(0), CPU(1), GPU(2), NPU(3) }

/** Common.kt */
abstract class JniHandle internal constructor(internal val handle: Long) : AutoCloseable {
    protected abstract fun destroy()
    final override fun close(): Unit = throw NotImplementedError()
}

/** LiteRtException.kt */
class LiteRtException(message: String) : Exception(message)

/** Environment.kt */
class Environment private constructor(handle: Long) : JniHandle(handle) {
    enum class Option(val value: Int) { CompilerPluginLibraryDir(0), DispatchLibraryDir(1), SystemRuntimeHandle(23) }

    override fun destroy(): Unit = throw NotImplementedError()

    @Throws(LiteRtException::class)
    fun getAvailableAccelerators(): Set<Accelerator> = throw NotImplementedError()

    companion object {
        @Throws(LiteRtException::class) @JvmOverloads @JvmStatic
        fun create(context: Context, options: Map<Option, String> = mapOf(), enableCompilerCache: Boolean = true): Environment = throw NotImplementedError()

        @Throws(LiteRtException::class) @JvmOverloads @JvmStatic
        fun create(options: Map<Option, String> = mapOf()): Environment = throw NotImplementedError()

        @Throws(LiteRtException::class) @JvmOverloads @JvmStatic
        fun create(context: Context, npuAcceleratorProvider: NpuAcceleratorProvider, options: Map<Option, String> = mapOf(), enableCompilerCache: Boolean = true): Environment = throw NotImplementedError()

        @Throws(LiteRtException::class) @JvmOverloads @JvmStatic
        fun create(npuAcceleratorProvider: NpuAcceleratorProvider, options: Map<Option, String> = mapOf()): Environment = throw NotImplementedError()
    }
}

/** AcceleratorProvider.kt */
interface NpuCompatibilityChecker {
    fun isDeviceSupported(): Boolean
    companion object {
        val Default: NpuCompatibilityChecker get() = throw NotImplementedError()
    }
}

/** AcceleratorProvider.kt */
interface NpuAcceleratorProvider {
    fun isDeviceSupported(): Boolean
    fun isLibraryReady(): Boolean
    suspend fun downloadLibrary()
    fun getLibraryDir(): String
}

/** AcceleratorProvider.kt */
class BuiltinNpuAcceleratorProvider @JvmOverloads constructor(
    private val context: Context,
    private val npuCompatibilityChecker: NpuCompatibilityChecker = NpuCompatibilityChecker.Default,
) : NpuAcceleratorProvider {
    override fun isDeviceSupported(): Boolean = throw NotImplementedError()
    override fun isLibraryReady(): Boolean = throw NotImplementedError()
    override suspend fun downloadLibrary(): Unit = throw NotImplementedError()
    override fun getLibraryDir(): String = throw NotImplementedError()
}

/** TensorBuffer.kt */
class TensorBuffer internal constructor(handle: Long) : JniHandle(handle) {
    override fun destroy(): Unit = throw NotImplementedError()
    fun writeInt(data: IntArray): Unit = throw NotImplementedError()
    fun writeFloat(data: FloatArray): Unit = throw NotImplementedError()
    fun writeInt8(data: ByteArray): Unit = throw NotImplementedError()
    fun writeBoolean(data: BooleanArray): Unit = throw NotImplementedError()
    fun writeLong(data: LongArray): Unit = throw NotImplementedError()
    fun readInt(): IntArray = throw NotImplementedError()
    fun readFloat(): FloatArray = throw NotImplementedError()
    fun readInt8(): ByteArray = throw NotImplementedError()
    fun readBoolean(): BooleanArray = throw NotImplementedError()
    fun readLong(): LongArray = throw NotImplementedError()
}

/** Model.kt */
class CompiledModel private constructor(handle: Long) : JniHandle(handle) {
    data class CpuOptions(val numThreads: Int? = null, val xnnPackFlags: Int? = null, val xnnPackWeightCachePath: String? = null)

    /** GpuOptions has more fields upstream; the app sets none of them. */
    class GpuOptions

    class Options(internal val accelerators: Set<Accelerator>) {
        constructor(vararg accelerators: Accelerator) : this(setOf(*accelerators))
        var cpuOptions: CpuOptions? = null
        var gpuOptions: GpuOptions? = null
        companion object {
            @JvmStatic val CPU: Options get() = throw NotImplementedError()
        }
    }

    override fun destroy(): Unit = throw NotImplementedError()

    @Throws(LiteRtException::class)
    fun createInputBuffer(inputName: String, signature: String = ""): TensorBuffer = throw NotImplementedError()
    @Throws(LiteRtException::class)
    fun createOutputBuffer(outputName: String, signature: String = ""): TensorBuffer = throw NotImplementedError()
    @Throws(LiteRtException::class) @JvmOverloads
    fun createInputBuffers(signatureIndex: Int = 0): List<TensorBuffer> = throw NotImplementedError()
    @Throws(LiteRtException::class) @JvmOverloads
    fun createOutputBuffers(signatureIndex: Int = 0): List<TensorBuffer> = throw NotImplementedError()
    @Throws(LiteRtException::class) @JvmOverloads
    fun run(inputs: List<TensorBuffer>, outputs: List<TensorBuffer>, signatureIndex: Int = 0): Unit = throw NotImplementedError()
    @Throws(LiteRtException::class)
    fun run(inputs: Map<String, TensorBuffer>, outputs: Map<String, TensorBuffer>, signature: String = ""): Unit = throw NotImplementedError()

    companion object {
        @Throws(LiteRtException::class) @JvmOverloads @JvmStatic
        fun create(assetManager: android.content.res.AssetManager, assetName: String, options: Options = Options.CPU, optionalEnv: Environment? = null): CompiledModel = throw NotImplementedError()

        @Throws(LiteRtException::class) @JvmOverloads @JvmStatic
        fun create(filePath: String, options: Options = Options.CPU, optionalEnv: Environment? = null): CompiledModel = throw NotImplementedError()
    }
}
