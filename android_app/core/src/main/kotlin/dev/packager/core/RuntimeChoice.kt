package dev.packager.core

/**
 * The decisions behind the app's LiteRT sessions, kept out of the Android code so they are
 * unit-tested on any JVM: which runtime serves each accelerator, what may be reported as
 * applied, how tensors are bound to the manifest, and how a half-built session is torn down.
 */
object RuntimeChoice {
    /** Which LiteRT API serves an accelerator of contract 2. */
    enum class Api { INTERPRETER, COMPILED_MODEL, NONE }

    /**
     * cpu = Interpreter with XNNPACK off (builtin kernels); xnnpack/gpu/npu = CompiledModel.
     * nnapi has no runtime in the app's dependency set: litert 2.2.0 ships its own
     * org.tensorflow.lite.Interpreter without delegates and no NnApiDelegate, and TFLite's
     * artifact (which has them) would duplicate those classes (see the README's app section).
     */
    fun apiFor(accelerator: Accelerator): Api = when (accelerator) {
        Accelerator.CPU -> Api.INTERPRETER
        Accelerator.XNNPACK, Accelerator.GPU, Accelerator.NPU -> Api.COMPILED_MODEL
        Accelerator.NNAPI -> Api.NONE
    }

    /** Why [accelerator] cannot run in this build; null when it has a runtime. */
    fun unavailableReason(accelerator: Accelerator): String? = when (apiFor(accelerator)) {
        Api.NONE -> "nnapi is not in this build: litert 2.2.0 ships no NNAPI delegate (NNAPI is also deprecated from Android 15)"
        else -> null
    }

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
