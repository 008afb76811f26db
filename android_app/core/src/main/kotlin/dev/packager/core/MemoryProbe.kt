package dev.packager.core

/**
 * How much memory one benchmark request took: the rise of the process's peak resident set over
 * its resident set just before the model is loaded. [baselineKb] must also restart the peak
 * (on Linux, writing 5 to /proc/self/clear_refs resets VmHWM), so that what the zygote, earlier
 * requests or the UI touched does not count; a probe that cannot restart it returns null and
 * the result says peak_memory_kb = null (unknown) rather than the process's lifetime peak.
 */
interface MemoryProbe {
    /** Restart the peak and return the resident set now, in kB; null if either cannot be done. */
    fun baselineKb(): Long?

    /** The peak resident set since [baselineKb], in kB; null if unknown. */
    fun peakKb(): Long?

    companion object {
        /**
         * What peak_memory_kb means in the app's results (peak_memory_measure, contract 2): the
         * rise of the peak resident set over the resident set just before the model was loaded.
         */
        const val MEASURE = "rise_over_preload_baseline"

        val NONE = object : MemoryProbe {
            override fun baselineKb(): Long? = null
            override fun peakKb(): Long? = null
        }

        /** peak_memory_kb of a result: the rise, never negative; null when either end is unknown. */
        fun rise(baselineKb: Long?, peakKb: Long?): Long? =
            if (baselineKb == null || peakKb == null) null else maxOf(0L, peakKb - baselineKb)
    }
}
