package dev.packager.demo

import android.content.res.AssetManager
import com.google.ai.edge.litert.CompiledModel
import com.google.ai.edge.litert.TensorBuffer
import dev.packager.core.AcceleratorOutcome
import dev.packager.core.DType
import dev.packager.core.InferenceSession
import dev.packager.core.NdArray
import dev.packager.core.Quantization
import dev.packager.core.SessionOpener
import dev.packager.core.TensorSpec
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.nnapi.NnApiDelegate
import java.io.File
import java.io.FileInputStream
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.nio.MappedByteBuffer
import java.nio.channels.FileChannel
import dev.packager.core.Accelerator as Acc
import com.google.ai.edge.litert.Accelerator as LiteRtAccelerator

/** Dtypes and shapes of a model's inputs and outputs, in signature order. */
data class IoSignature(val inputs: List<TensorSpec>, val outputs: List<TensorSpec>)

/** Where a model comes from: a file (benchmark requests) or an uncompressed APK asset (the demo UI). */
sealed interface ModelSource {
    data class OnDisk(val path: String) : ModelSource
    data class Asset(val assets: AssetManager, val path: String) : ModelSource
}

/**
 * LiteRT behind core's [SessionOpener]:
 * - xnnpack, gpu, npu: the CompiledModel API with Accelerator.CPU (LiteRT's CPU path is XNNPACK), GPU or NPU;
 * - cpu: the Interpreter API with XNNPACK switched off (TFLite's reference/builtin kernels);
 * - nnapi: the Interpreter API with the NNAPI delegate, NNAPI's own CPU fallback disabled so a
 *   model NNAPI cannot place on an accelerator fails here (and falls back visibly) rather than
 *   quietly running on nnapi-reference.
 * Creation throws when an accelerator cannot take the model; core's AcceleratorPlan falls back.
 */
class LiteRtOpener(private val sourceOf: (String) -> ModelSource, private val knownSignature: IoSignature? = null) : SessionOpener {
    private val signatures = HashMap<String, IoSignature>()

    override fun prepare(modelPath: String) {
        signatureOf(modelPath)
    }

    private fun signatureOf(modelPath: String): IoSignature =
        knownSignature ?: signatures.getOrPut(modelPath) { readSignature(sourceOf(modelPath)) }

    override fun open(modelPath: String, accelerator: Acc, threads: Int): InferenceSession {
        val source = sourceOf(modelPath)
        val signature = signatureOf(modelPath)
        return when (accelerator) {
            Acc.CPU, Acc.NNAPI -> InterpreterSession(source, accelerator, threads)
            Acc.XNNPACK, Acc.GPU, Acc.NPU -> CompiledModelSession(source, accelerator, threads, signature)
        }
    }

    companion object {
        /** The signature as the Interpreter API reports it (when there is no manifest to say). */
        fun readSignature(source: ModelSource): IoSignature {
            val interpreter = Interpreter(load(source), Interpreter.Options())
            try {
                fun spec(t: org.tensorflow.lite.Tensor, index: Int): TensorSpec {
                    val q = t.quantizationParams()
                    return TensorSpec(t.name(), index, t.shape().toList(), dtypeOf(t.dataType()),
                        if (q.scale != 0f) Quantization(q.scale.toDouble(), q.zeroPoint.toLong()) else null, "other")
                }
                return IoSignature(
                    (0 until interpreter.inputTensorCount).map { spec(interpreter.getInputTensor(it), it) },
                    (0 until interpreter.outputTensorCount).map { spec(interpreter.getOutputTensor(it), it) },
                )
            } finally {
                interpreter.close()
            }
        }

        fun dtypeOf(type: org.tensorflow.lite.DataType): DType =
            DType.entries.firstOrNull { it.name == type.name } ?: throw IllegalArgumentException("tensor type $type is not supported")

        /** The model bytes memory-mapped: from the APK directly, which is why .tflite must stay uncompressed. */
        fun load(source: ModelSource): MappedByteBuffer = when (source) {
            is ModelSource.OnDisk -> FileInputStream(File(source.path)).use {
                it.channel.map(FileChannel.MapMode.READ_ONLY, 0, it.channel.size())
            }
            is ModelSource.Asset -> source.assets.openFd(source.path).use { fd ->
                FileInputStream(fd.fileDescriptor).use {
                    it.channel.map(FileChannel.MapMode.READ_ONLY, fd.startOffset, fd.declaredLength)
                }
            }
        }
    }
}

/** The Interpreter API: reference CPU kernels, or the NNAPI delegate. */
private class InterpreterSession(source: ModelSource, accelerator: Acc, threads: Int) : InferenceSession {
    private val delegate: NnApiDelegate?
    private val interpreter: Interpreter

    init {
        val options = Interpreter.Options().setNumThreads(threads)
        if (accelerator == Acc.NNAPI) {
            delegate = NnApiDelegate(NnApiDelegate.Options().setUseNnapiCpu(false))
            options.addDelegate(delegate)
        } else {
            delegate = null
            options.setUseXNNPACK(false)
        }
        interpreter = try {
            Interpreter(LiteRtOpener.load(source), options)
        } catch (e: Exception) {
            delegate?.close()
            throw e
        }
    }

    override val outcome = AcceleratorOutcome(accelerator, accelerator)

    override fun run(inputs: List<NdArray>): List<NdArray> {
        val outputs = HashMap<Int, Any>()
        for (k in 0 until interpreter.outputTensorCount) {
            val t = interpreter.getOutputTensor(k)
            outputs[k] = ByteBuffer.allocateDirect(t.numBytes()).order(ByteOrder.nativeOrder())
        }
        interpreter.runForMultipleInputsOutputs(inputs.map { it.toDirectBuffer() }.toTypedArray(), outputs)
        return (0 until interpreter.outputTensorCount).map { k ->
            val t = interpreter.getOutputTensor(k)
            val buffer = outputs.getValue(k) as ByteBuffer
            buffer.rewind()
            val bytes = ByteArray(buffer.remaining()).also { buffer.get(it) }
            NdArray(LiteRtOpener.dtypeOf(t.dataType()), t.shape(), bytes) // Android ABIs are little-endian
        }
    }

    override fun close() {
        interpreter.close()
        delegate?.close()
    }
}

/** The CompiledModel API on CPU (XNNPACK), GPU or NPU. */
private class CompiledModelSession(source: ModelSource, accelerator: Acc, threads: Int, private val signature: IoSignature) : InferenceSession {
    private val model: CompiledModel
    private val inputBuffers: List<TensorBuffer>
    private val outputBuffers: List<TensorBuffer>

    init {
        val unsupported = (signature.inputs + signature.outputs).filter { it.dtype !in SUPPORTED }
        require(unsupported.isEmpty()) {
            "the CompiledModel API cannot exchange ${unsupported.joinToString { "${it.name} (${it.dtype.numpyName})" }} tensors"
        }
        val options = CompiledModel.Options(
            when (accelerator) {
                Acc.GPU -> LiteRtAccelerator.GPU
                Acc.NPU -> LiteRtAccelerator.NPU
                else -> LiteRtAccelerator.CPU
            },
        )
        options.cpuOptions = CompiledModel.CpuOptions(numThreads = threads)
        model = when (source) {
            is ModelSource.OnDisk -> CompiledModel.create(source.path, options, null)
            is ModelSource.Asset -> CompiledModel.create(source.assets, source.path, options, null)
        }
        inputBuffers = model.createInputBuffers()
        outputBuffers = model.createOutputBuffers()
    }

    override val outcome = AcceleratorOutcome(accelerator, accelerator)

    override fun run(inputs: List<NdArray>): List<NdArray> {
        require(inputs.size == inputBuffers.size) { "the model takes ${inputBuffers.size} inputs, got ${inputs.size}" }
        inputs.forEachIndexed { i, t ->
            val b = inputBuffers[i]
            when (t.dtype) {
                DType.FLOAT32 -> b.writeFloat(t.toFloatArray())
                DType.INT8 -> b.writeInt8(t.data)
                DType.INT32 -> b.writeInt(t.toIntArray())
                DType.INT64 -> b.writeLong(t.toLongArray())
                DType.BOOL -> b.writeBoolean(BooleanArray(t.size) { t.data[it].toInt() != 0 })
                else -> throw IllegalArgumentException("cannot write ${t.dtype.numpyName}")
            }
        }
        model.run(inputBuffers, outputBuffers)
        return outputBuffers.mapIndexed { k, b ->
            val spec = signature.outputs[k]
            val shape = spec.shape.map { if (it < 0) 1 else it }.toIntArray()
            when (spec.dtype) {
                DType.FLOAT32 -> NdArray.ofFloats(shape, b.readFloat())
                DType.INT8 -> NdArray.ofBytes(DType.INT8, shape, b.readInt8())
                DType.INT32 -> NdArray.ofLongs(DType.INT32, shape, b.readInt().map { it.toLong() }.toLongArray())
                DType.INT64 -> NdArray.ofLongs(DType.INT64, shape, b.readLong())
                DType.BOOL -> NdArray.ofLongs(DType.BOOL, shape, b.readBoolean().map { if (it) 1L else 0L }.toLongArray())
                else -> throw IllegalArgumentException("cannot read ${spec.dtype.numpyName}")
            }
        }
    }

    override fun close() {
        inputBuffers.forEach { it.close() }
        outputBuffers.forEach { it.close() }
        model.close()
    }

    companion object {
        /** Element types the Kotlin TensorBuffer can write and read; others go through the Interpreter API. */
        val SUPPORTED = setOf(DType.FLOAT32, DType.INT8, DType.INT32, DType.INT64, DType.BOOL)
    }
}
