package dev.packager.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Test

class LatencyStatsTest {
    @Test fun matchesNumpysLinearPercentiles() {
        // numpy.percentile([1, 2, 3, 4], [50, 90, 99]) == [2.5, 3.7, 3.97]
        val s = LatencyStats.of(listOf(4.0, 1.0, 3.0, 2.0))!!
        assertEquals(2.5, s.p50Ms, 1e-12)
        assertEquals(3.7, s.p90Ms, 1e-12)
        assertEquals(3.97, s.p99Ms, 1e-12)
        assertEquals(2.5, s.meanMs, 0.0)
        assertEquals(Math.sqrt(1.25), s.stdMs, 1e-12) // population std (ddof=0)
        assertEquals(1.0, s.minMs, 0.0)
        assertEquals(4.0, s.maxMs, 0.0)
    }

    @Test fun singleSampleAndEmpty() {
        val s = LatencyStats.of(listOf(7.0))!!
        assertEquals(7.0, s.p99Ms, 0.0)
        assertEquals(0.0, s.stdMs, 0.0)
        assertNull(LatencyStats.of(emptyList()))
    }
}
