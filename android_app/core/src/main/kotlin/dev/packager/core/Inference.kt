package dev.packager.core

/** A model ready to run on one accelerator: the seam between core and LiteRT. */
interface InferenceSession : AutoCloseable {
    /** What actually runs the model, and how much of it (when the runtime says). */
    val outcome: AcceleratorOutcome

    /** One inference: a batch-of-1 tensor per model input, in input-index order; outputs likewise. */
    fun run(inputs: List<NdArray>): List<NdArray>
}

/** Opens a model on one accelerator, throwing when that accelerator cannot take it. */
fun interface SessionOpener {
    fun open(modelPath: String, accelerator: Accelerator, threads: Int): InferenceSession

    /** Work done once per model before timing starts (e.g. reading its tensor signature). */
    fun prepare(modelPath: String) {}
}

/**
 * Try the requested accelerator, then fall back (GPU, NPU, NNAPI -> XNNPACK -> CPU). A fallback is
 * never hidden: the outcome names what ran and why the request did not.
 */
object AcceleratorPlan {
    fun chain(requested: Accelerator): List<Accelerator> = when (requested) {
        Accelerator.CPU -> listOf(Accelerator.CPU)
        Accelerator.XNNPACK -> listOf(Accelerator.XNNPACK, Accelerator.CPU)
        else -> listOf(requested, Accelerator.XNNPACK, Accelerator.CPU)
    }

    fun open(opener: SessionOpener, modelPath: String, requested: Accelerator, threads: Int): InferenceSession {
        val failures = mutableListOf<String>()
        for (candidate in chain(requested)) {
            try {
                val session = opener.open(modelPath, candidate, threads)
                if (candidate == requested) return session
                return FellBack(session, requested, failures.joinToString("; "))
            } catch (e: Exception) {
                failures += "${candidate.id}: ${e.message ?: e.javaClass.simpleName}"
            }
        }
        throw ContractException("no accelerator could load the model (${failures.joinToString("; ")})")
    }

    private class FellBack(val inner: InferenceSession, requested: Accelerator, reason: String) : InferenceSession by inner {
        override val outcome = inner.outcome.copy(requested = requested, fallbackReason = reason)
    }
}
