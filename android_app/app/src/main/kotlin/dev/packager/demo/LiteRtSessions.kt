package dev.packager.demo

import android.content.Context
import android.content.res.AssetManager
import com.google.ai.edge.litert.BuiltinNpuAcceleratorProvider
import com.google.ai.edge.litert.CompiledModel
import com.google.ai.edge.litert.Environment
import com.google.ai.edge.litert.TensorBuffer
import dev.packager.core.AcceleratorOutcome
import dev.packager.core.AcceleratorUnavailable
import dev.packager.core.CreationScope
import dev.packager.core.DType
import dev.packager.core.InferenceSession
import dev.packager.core.NdArray
import dev.packager.core.Quantization
import dev.packager.core.RuntimeChoice
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

/**
 * A model's inputs and outputs in the model's signature order: [inputs]/[outputs] carry the
 * tensor names (as the manifest has them), [inputKeys]/[outputKeys] the signature's own names
 * (what CompiledModel takes), position for position.
 */
data class IoSignature(
    val inputs: List<TensorSpec>,
    val outputs: List<TensorSpec>,
    val inputKeys: List<String> = inputs.map { it.name },
    val outputKeys: List<String> = outputs.map { it.name },
)

/** Where a model comes from: a file (benchmark requests) or an uncompressed APK asset (the demo UI). */
sealed interface ModelSource {
    data class OnDisk(val path: String) : ModelSource
    data class Asset(val assets: AssetManager, val path: String) : ModelSource
}

/**
 * Two runtimes behind core's [SessionOpener] (which serves what: core's RuntimeChoice):
 * - xnnpack, gpu, npu: LiteRT 2.2.0's CompiledModel with an Environment; npu through the
 *   Environment made with BuiltinNpuAcceleratorProvider (dispatch and compiler-plugin libraries
 *   from the app's native library folder). `applied` is what the Environment lists, never the request;
 * - cpu: TFLite 2.16.1's Interpreter, XNNPACK off (builtin kernels);
 * - nnapi: the same Interpreter with TFLite's NnApiDelegate, NNAPI's own CPU implementation off,
 *   so a handset whose NNAPI has no accelerator for the model takes nothing and falls back
 *   visibly; how many operators it took comes from TFLite's own log line ([log]).
 * Tensors are bound to the manifest ([expected]) by name, not by position.
 */
class LiteRtOpener(
    private val context: Context,
    private val sourceOf: (String) -> ModelSource,
    private val expected: IoSignature? = null,
    /** The handset's API level (NNAPI needs 27; deprecated from 35). */
    private val sdk: Int,
    private val log: DelegateLogReader = OwnLogcat,
) : SessionOpener {
    private val signatures = HashMap<String, IoSignature>()

    override fun prepare(modelPath: String) {
        signatureOf(modelPath)
    }

    /** The model's own signature, reordered to the manifest's tensors when there is a manifest. */
    private fun signatureOf(modelPath: String): IoSignature {
        val model = signatures.getOrPut(modelPath) { readSignature(sourceOf(modelPath)) }
        val want = expected ?: return model
        val ins = RuntimeChoice.bindByName(want.inputs, model.inputs.map { it.name }, "input")
        val outs = RuntimeChoice.bindByName(want.outputs, model.outputs.map { it.name }, "output")
        return IoSignature(ins.map { model.inputs[it] }, outs.map { model.outputs[it] }, ins.map { model.inputKeys[it] }, outs.map { model.outputKeys[it] })
    }

    override fun open(modelPath: String, accelerator: Acc, threads: Int): InferenceSession {
        RuntimeChoice.unavailableReason(accelerator, sdk)?.let { throw AcceleratorUnavailable(it) }
        val source = sourceOf(modelPath)
        val signature = signatureOf(modelPath)
        return when (RuntimeChoice.apiFor(accelerator)) {
            RuntimeChoice.Api.INTERPRETER -> InterpreterSession.open(source, accelerator, threads, signature, sdk, log)
            RuntimeChoice.Api.COMPILED_MODEL -> CompiledModelSession.open(context, source, accelerator, threads, signature)
        }
    }

    companion object {
        /** The first signature as TFLite's Interpreter reports it (tensor names and signature names). */
        fun readSignature(source: ModelSource): IoSignature {
            val interpreter = Interpreter(load(source), Interpreter.Options())
            try {
                fun spec(t: org.tensorflow.lite.Tensor, index: Int): TensorSpec {
                    val q = t.quantizationParams()
                    return TensorSpec(t.name(), index, t.shape().toList(), dtypeOf(t.dataType()),
                        if (q.scale != 0f) Quantization(q.scale.toDouble(), q.zeroPoint.toLong()) else null, "other")
                }
                val key = interpreter.signatureKeys.firstOrNull()
                if (key == null) {
                    return IoSignature(
                        (0 until interpreter.inputTensorCount).map { spec(interpreter.getInputTensor(it), it) },
                        (0 until interpreter.outputTensorCount).map { spec(interpreter.getOutputTensor(it), it) },
                    )
                }
                val inKeys = interpreter.getSignatureInputs(key).toList()
                val outKeys = interpreter.getSignatureOutputs(key).toList()
                return IoSignature(
                    inKeys.map { interpreter.getInputTensorFromSignature(it, key) }.map { spec(it, it.index()) },
                    outKeys.map { interpreter.getOutputTensorFromSignature(it, key) }.map { spec(it, it.index()) },
                    inKeys, outKeys,
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

/**
 * TFLite's Interpreter: builtin kernels with XNNPACK off (`cpu`), or the NNAPI delegate (`nnapi`).
 * [resources] are the delegate (if any) and the interpreter, closed newest first: the
 * interpreter before the delegate it uses.
 */
private class InterpreterSession(
    private val resources: List<AutoCloseable>,
    private val interpreter: Interpreter,
    private val signature: IoSignature,
    override val outcome: AcceleratorOutcome,
) : InferenceSession {
    override fun run(inputs: List<NdArray>): List<NdArray> {
        require(inputs.size == signature.inputs.size) { "the model takes ${signature.inputs.size} inputs, got ${inputs.size}" }
        // Inputs come in the manifest's order; the Interpreter wants its own indices.
        val feed = arrayOfNulls<Any>(interpreter.inputTensorCount)
        signature.inputs.forEachIndexed { i, spec -> feed[interpreter.getInputIndex(spec.name)] = inputs[i].toDirectBuffer() }
        val outIndex = signature.outputs.map { interpreter.getOutputIndex(it.name) }
        val outputs = HashMap<Int, Any>()
        for (k in outIndex) outputs[k] = ByteBuffer.allocateDirect(interpreter.getOutputTensor(k).numBytes()).order(ByteOrder.nativeOrder())
        interpreter.runForMultipleInputsOutputs(feed, outputs)
        return outIndex.map { k ->
            val t = interpreter.getOutputTensor(k)
            val buffer = outputs.getValue(k) as ByteBuffer
            buffer.rewind()
            val bytes = ByteArray(buffer.remaining()).also { buffer.get(it) }
            NdArray(LiteRtOpener.dtypeOf(t.dataType()), t.shape(), bytes) // Android ABIs are little-endian
        }
    }

    override fun close() {
        resources.asReversed().forEach { it.close() }
    }

    companion object {
        fun open(source: ModelSource, accelerator: Acc, threads: Int, signature: IoSignature, sdk: Int, log: DelegateLogReader): InterpreterSession =
            // Delegate -> interpreter; a failure at any step closes what came before it.
            CreationScope.build { scope ->
                // XNNPACK off on both paths: what NNAPI does not take runs on the builtin kernels, as cpu does
                // (TFLite would otherwise apply XNNPACK lazily to the rest, tflite/core/interpreter.cc).
                val options = Interpreter.Options().setNumThreads(threads).setUseXNNPACK(false)
                var marker: String? = null
                if (accelerator == Acc.NNAPI) {
                    // NNAPI's CPU implementation (nnapi-reference) off: NNAPI must place the model on an accelerator.
                    val delegate = scope.own(NnApiDelegate(NnApiDelegate.Options().setUseNnapiCpu(false)))
                    options.addDelegate(delegate)
                    marker = log.mark()
                }
                val interpreter = scope.own(Interpreter(LiteRtOpener.load(source), options))
                val counts = marker?.let { log.counts(it, RuntimeChoice.NNAPI_DELEGATE_NAME) }
                // Throws when NNAPI took nothing: the plan then falls back visibly.
                val outcome = RuntimeChoice.interpreterOutcome(accelerator, counts, sdk)
                InterpreterSession(scope.commit(), interpreter, signature, outcome)
            }
    }
}

/** CompiledModel on CPU (XNNPACK), GPU or NPU, in an Environment that says what it has. */
private class CompiledModelSession(
    private val resources: List<AutoCloseable>,
    private val model: CompiledModel,
    private val inputs: Map<String, TensorBuffer>,
    private val outputs: Map<String, TensorBuffer>,
    private val signature: IoSignature,
    override val outcome: AcceleratorOutcome,
) : InferenceSession {
    override fun run(inputs: List<NdArray>): List<NdArray> {
        require(inputs.size == signature.inputs.size) { "the model takes ${signature.inputs.size} inputs, got ${inputs.size}" }
        inputs.forEachIndexed { i, t ->
            val b = this.inputs.getValue(signature.inputKeys[i])
            when (t.dtype) {
                DType.FLOAT32 -> b.writeFloat(t.toFloatArray())
                DType.INT8 -> b.writeInt8(t.data)
                DType.INT32 -> b.writeInt(t.toIntArray())
                DType.INT64 -> b.writeLong(t.toLongArray())
                DType.BOOL -> b.writeBoolean(BooleanArray(t.size) { t.data[it].toInt() != 0 })
                else -> throw IllegalArgumentException("cannot write ${t.dtype.numpyName}")
            }
        }
        model.run(this.inputs, outputs)
        return signature.outputs.mapIndexed { k, spec ->
            val b = outputs.getValue(signature.outputKeys[k])
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

    /** Buffers, then the model, then the environment: the reverse of creation. */
    override fun close() {
        resources.asReversed().forEach { it.close() }
    }

    companion object {
        /** Element types the Kotlin TensorBuffer can write and read; others go through the Interpreter API. */
        val SUPPORTED = setOf(DType.FLOAT32, DType.INT8, DType.INT32, DType.INT64, DType.BOOL)

        fun open(context: Context, source: ModelSource, accelerator: Acc, threads: Int, signature: IoSignature): CompiledModelSession {
            val unsupported = (signature.inputs + signature.outputs).filter { it.dtype !in SUPPORTED }
            require(unsupported.isEmpty()) {
                "the CompiledModel API cannot exchange ${unsupported.joinToString { "${it.name} (${it.dtype.numpyName})" }} tensors"
            }
            // Environment -> model -> buffers; a failure at any step closes what came before it.
            return CreationScope.build { scope ->
                val env = scope.own(
                    if (accelerator == Acc.NPU) Environment.create(BuiltinNpuAcceleratorProvider(context))
                    else Environment.create(),
                )
                val available = env.getAvailableAccelerators().map { it.name.lowercase() }.toSet()
                val outcome = RuntimeChoice.compiledModelOutcome(accelerator, available)
                val wanted = when (accelerator) {
                    Acc.GPU -> com.google.ai.edge.litert.Accelerator.GPU
                    Acc.NPU -> com.google.ai.edge.litert.Accelerator.NPU
                    else -> com.google.ai.edge.litert.Accelerator.CPU
                }
                val options = CompiledModel.Options(wanted)
                options.cpuOptions = CompiledModel.CpuOptions(numThreads = threads)
                val model = scope.own(
                    when (source) {
                        is ModelSource.OnDisk -> CompiledModel.create(source.path, options, env)
                        is ModelSource.Asset -> CompiledModel.create(source.assets, source.path, options, env)
                    },
                )
                val ins = signature.inputKeys.associateWith { scope.own(model.createInputBuffer(it)) }
                val outs = signature.outputKeys.associateWith { scope.own(model.createOutputBuffer(it)) }
                // How many operators the accelerator took is not reported by CompiledModel 2.2.0: unknown, and the outcome says why.
                CompiledModelSession(scope.commit(), model, ins, outs, signature, outcome)
            }
        }
    }
}
