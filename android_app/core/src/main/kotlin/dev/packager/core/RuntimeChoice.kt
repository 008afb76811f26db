package dev.packager.core

/**
 * The decisions behind the app's LiteRT sessions, kept out of the Android code so they are
 * unit-tested on any JVM: which runtime serves each accelerator, what may be reported as
 * applied, how tensors are bound to the manifest, and how a half-built session is torn down.
 */
object RuntimeChoice {
    /** Which runtime serves an accelerator of contract 2. */
    enum class Api { INTERPRETER, COMPILED_MODEL }

    /** NNAPI came with Android 8.1 (API 27); the app's minSdk is 26. */
    const val NNAPI_MIN_SDK = 27

    /** NNAPI is deprecated from Android 15 (API 35): it still runs, and the app says so. */
    const val NNAPI_DEPRECATED_SDK = 35

    /** The delegate name TFLite logs for NNAPI (see [DelegateLog]). */
    const val NNAPI_DELEGATE_NAME = "TfLiteNnapiDelegate"

    /**
     * cpu = TFLite's Interpreter with XNNPACK off (builtin kernels); nnapi = the same Interpreter
     * with TFLite's NnApiDelegate (org.tensorflow:tensorflow-lite); xnnpack/gpu/npu = LiteRT's
     * CompiledModel (see android_app/README.md for why these are two runtimes).
     */
    fun apiFor(accelerator: Accelerator): Api = when (accelerator) {
        Accelerator.CPU, Accelerator.NNAPI -> Api.INTERPRETER
        Accelerator.XNNPACK, Accelerator.GPU, Accelerator.NPU -> Api.COMPILED_MODEL
    }

    /** Why [accelerator] cannot run on a handset of API level [sdk]; null when it can be tried. */
    fun unavailableReason(accelerator: Accelerator, sdk: Int): String? = when {
        accelerator == Accelerator.NNAPI && sdk < NNAPI_MIN_SDK ->
            "nnapi needs Android 8.1 (API $NNAPI_MIN_SDK); this handset has API $sdk"
        else -> null
    }

    /** What the app says beside an nnapi run: always that NNAPI is deprecated, and whether it is on this handset. */
    fun nnapiNote(sdk: Int): String =
        if (sdk >= NNAPI_DEPRECATED_SDK) "NNAPI is deprecated from Android 15 (this handset has API $sdk); it still ran here"
        else "NNAPI is deprecated from Android 15 (API $NNAPI_DEPRECATED_SDK); this handset has API $sdk"

    /**
     * The outcome of an Interpreter session on [requested], given the delegate's own count of
     * the operators it took ([counts], from [DelegateLog]; null when no line was logged).
     * - cpu: no delegate, so 0 delegated and the total unknown (the Interpreter API has no node count);
     * - nnapi: a count of 0, or no line at all, means NNAPI took nothing and the builtin kernels
     *   would run the model under an "nnapi" label: that throws, so the plan falls back visibly.
     */
    fun interpreterOutcome(requested: Accelerator, counts: DelegateLog.Counts?, sdk: Int): AcceleratorOutcome = when (requested) {
        Accelerator.CPU -> AcceleratorOutcome(requested, requested, delegatedOps = 0, opsSource = OpsSource.NO_DELEGATE,
            opsNote = "builtin kernels, no delegate; the Interpreter API does not report the operator count")
        Accelerator.NNAPI -> {
            if (counts == null || counts.delegated == 0) {
                throw AcceleratorUnavailable("NNAPI took no operator of this model" +
                    if (counts == null) " (TFLite logged no $NNAPI_DELEGATE_NAME replacement)" else " (0 of ${counts.total})")
            }
            val rest = if (counts.delegated < counts.total) "; the other ${counts.total - counts.delegated} ran on TFLite's builtin kernels" else ""
            AcceleratorOutcome(requested, requested, delegatedOps = counts.delegated, totalOps = counts.total,
                opsSource = OpsSource.DELEGATE_LOG, opsNote = nnapiNote(sdk) + rest)
        }
        else -> throw IllegalArgumentException("${requested.id} does not run on the Interpreter API")
    }

    /** CompiledModel 2.2.0 does not say how many operators an accelerator took. */
    const val COMPILED_MODEL_OPS_NOTE = "LiteRT's CompiledModel 2.2.0 does not report how many operators the accelerator took"

    /**
     * What a CompiledModel on [requested] may report as applied, given the accelerators the
     * LiteRT Environment says it has ([available], LiteRT's own names: "cpu", "gpu", "npu").
     * Never the request itself: an accelerator the environment does not list throws, so the
     * plan falls back visibly instead of LiteRT quietly running on CPU under an "npu" label.
     */
    fun appliedFor(requested: Accelerator, available: Set<String>): Accelerator {
        val needed = when (requested) {
            Accelerator.XNNPACK -> "cpu"
            Accelerator.GPU -> "gpu"
            Accelerator.NPU -> "npu"
            else -> throw IllegalArgumentException("${requested.id} does not run on the CompiledModel API")
        }
        if (needed !in available) {
            val listed = if (available.isEmpty()) "none" else available.sorted().joinToString()
            throw AcceleratorUnavailable("${requested.id} is not available: the LiteRT environment lists $listed")
        }
        return requested
    }

    /**
     * LiteRT 2.2.0 turns an NPU-only request into NPU + CPU "to support partially compiled models"
     * (litert/kotlin/.../Model.kt, createFromFile/createFromAsset): some operators may run on CPU.
     */
    const val NPU_PARTIAL_NOTE = "; for an NPU-only request LiteRT 2.2.0 adds CPU for partially compiled models, so some may run on CPU"

    /** A CompiledModel session's outcome: applied from the Environment, operator counts unknown (and why). */
    fun compiledModelOutcome(requested: Accelerator, available: Set<String>): AcceleratorOutcome =
        AcceleratorOutcome(requested, appliedFor(requested, available), opsSource = OpsSource.UNKNOWN,
            opsNote = COMPILED_MODEL_OPS_NOTE + if (requested == Accelerator.NPU) NPU_PARTIAL_NOTE else "")

    /**
     * For each manifest tensor, its position among the model's tensors ([modelNames], in the
     * model's signature order), matched by name. Throws naming what is missing.
     */
    fun bindByName(specs: List<TensorSpec>, modelNames: List<String>, what: String): List<Int> {
        val missing = specs.map { it.name }.filter { it !in modelNames }
        if (missing.isNotEmpty()) {
            throw ContractException("the model has no $what ${missing.joinToString()} that the manifest names (it has ${modelNames.joinToString()})")
        }
        if (specs.size != modelNames.size) {
            throw ContractException("the manifest names ${specs.size} ${what}s, the model has ${modelNames.size} (${modelNames.joinToString()})")
        }
        return specs.map { modelNames.indexOf(it.name) }
    }
}

class AcceleratorUnavailable(message: String) : Exception(message)

/**
 * Owns what a session creates step by step (model, then buffers). When a step throws, every
 * resource taken so far is closed, newest first, and the failure goes on; [commit] hands
 * them to the finished session instead.
 */
class CreationScope : AutoCloseable {
    private val owned = ArrayList<AutoCloseable>()
    private var committed = false

    fun <T : AutoCloseable> own(resource: T): T = resource.also { owned += it }

    fun commit(): List<AutoCloseable> {
        committed = true
        return owned.toList()
    }

    override fun close() {
        if (committed) return
        var first: Throwable? = null
        for (r in owned.asReversed()) {
            try { r.close() } catch (e: Exception) { first = first ?: e }
        }
        owned.clear()
        first?.let { throw it }
    }

    companion object {
        /** Run [build] in a scope; on failure everything it owned is closed before the error propagates. */
        fun <T> build(build: (CreationScope) -> T): T {
            val scope = CreationScope()
            try {
                return build(scope).also { scope.commit() }
            } catch (e: Throwable) {
                try { scope.close() } catch (c: Exception) { e.addSuppressed(c) }
                throw e
            }
        }
    }
}
