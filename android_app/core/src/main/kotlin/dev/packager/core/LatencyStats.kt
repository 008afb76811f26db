package dev.packager.core

import kotlin.math.floor
import kotlin.math.sqrt

/**
 * Latency summary in milliseconds. Percentiles use numpy's default ("linear", type 7):
 * virtual index h = q/100 * (n - 1), interpolated between the neighbours the way numpy's _lerp
 * does; std is the population std (numpy's ddof=0). The harness computes the same from the raw
 * latencies, so app and host agree.
 */
data class LatencyStats(
    val count: Int,
    val meanMs: Double,
    val stdMs: Double,
    val minMs: Double,
    val maxMs: Double,
    val p50Ms: Double,
    val p90Ms: Double,
    val p99Ms: Double,
) {
    companion object {
        fun of(samplesMs: List<Double>): LatencyStats? {
            if (samplesMs.isEmpty()) return null
            val sorted = samplesMs.sorted().toDoubleArray()
            val mean = samplesMs.sum() / samplesMs.size
            val variance = samplesMs.sumOf { (it - mean) * (it - mean) } / samplesMs.size
            return LatencyStats(
                count = sorted.size,
                meanMs = mean,
                stdMs = sqrt(variance),
                minMs = sorted.first(),
                maxMs = sorted.last(),
                p50Ms = percentile(sorted, 50.0),
                p90Ms = percentile(sorted, 90.0),
                p99Ms = percentile(sorted, 99.0),
            )
        }

        /** numpy.percentile(sorted, q) with method="linear" on an ascending array. */
        fun percentile(sorted: DoubleArray, q: Double): Double {
            require(sorted.isNotEmpty()) { "no samples" }
            require(q in 0.0..100.0) { "percentile $q outside 0..100" }
            val h = (q / 100.0) * (sorted.size - 1)
            val lo = floor(h).toInt().coerceIn(0, sorted.size - 1)
            val hi = (lo + 1).coerceAtMost(sorted.size - 1)
            val t = h - lo
            val a = sorted[lo]
            val b = sorted[hi]
            val diff = b - a
            return if (t >= 0.5) b - diff * (1.0 - t) else a + diff * t
        }
    }
}
