package dev.packager.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test

class RuntimeChoiceTest {
    private fun spec(name: String, index: Int) = TensorSpec(name, index, listOf(1, 4), DType.FLOAT32, null, "other")

    @Test fun appliedComesFromTheEnvironmentNotTheRequest() {
        assertEquals(Accelerator.GPU, RuntimeChoice.appliedFor(Accelerator.GPU, setOf("cpu", "gpu")))
        assertEquals(Accelerator.XNNPACK, RuntimeChoice.appliedFor(Accelerator.XNNPACK, setOf("cpu")))
        val npu = assertThrows(AcceleratorUnavailable::class.java) { RuntimeChoice.appliedFor(Accelerator.NPU, setOf("cpu", "gpu")) }
        assertTrue(npu.message, npu.message!!.contains("npu is not available") && npu.message!!.contains("cpu, gpu"))
        assertThrows(AcceleratorUnavailable::class.java) { RuntimeChoice.appliedFor(Accelerator.GPU, emptySet()) }
    }

    @Test fun anNpuTheEnvironmentLacksFallsBackVisiblyThroughThePlan() {
        val available = setOf("cpu")
        val opener = SessionOpener { _, acc, _ ->
            val applied = RuntimeChoice.appliedFor(acc, available)
            object : InferenceSession {
                override val outcome = AcceleratorOutcome(acc, applied)
                override fun run(inputs: List<NdArray>) = inputs
                override fun close() {}
            }
        }
        val session = AcceleratorPlan.open(opener, "m.tflite", Accelerator.NPU, 1)
        assertEquals(Accelerator.NPU, session.outcome.requested)
        assertEquals(Accelerator.XNNPACK, session.outcome.applied)
        assertTrue(session.outcome.fallbackReason!!.contains("npu is not available"))
    }

    @Test fun nnapiRunsOnTheInterpreterWhereTheHandsetHasIt() {
        assertEquals(RuntimeChoice.Api.INTERPRETER, RuntimeChoice.apiFor(Accelerator.NNAPI))
        assertEquals(RuntimeChoice.Api.INTERPRETER, RuntimeChoice.apiFor(Accelerator.CPU))
        val old = RuntimeChoice.unavailableReason(Accelerator.NNAPI, 26)
        assertNotNull(old)
        assertTrue(old, old!!.contains("API 27") && old.contains("API 26"))
        assertNull(RuntimeChoice.unavailableReason(Accelerator.NNAPI, 27))
        assertNull(RuntimeChoice.unavailableReason(Accelerator.NNAPI, 36))
        for (a in listOf(Accelerator.CPU, Accelerator.XNNPACK, Accelerator.GPU, Accelerator.NPU)) assertNull(RuntimeChoice.unavailableReason(a, 26))
        assertTrue(RuntimeChoice.nnapiNote(35).contains("deprecated from Android 15"))
        assertTrue(RuntimeChoice.nnapiNote(30).contains("deprecated from Android 15"))
    }

    @Test fun nnapiReportsWhatTheDelegateTookAndFailsWhenItTookNothing() {
        val ran = RuntimeChoice.interpreterOutcome(Accelerator.NNAPI, DelegateLog.Counts(9, 12), 34)
        assertEquals(Accelerator.NNAPI, ran.applied)
        assertEquals(9, ran.delegatedOps)
        assertEquals(12, ran.totalOps)
        assertEquals(OpsSource.DELEGATE_LOG, ran.opsSource)
        assertTrue(ran.opsNote, ran.opsNote!!.contains("deprecated from Android 15") && ran.opsNote!!.contains("the other 3 ran on TFLite's builtin kernels"))
        assertTrue(RuntimeChoice.interpreterOutcome(Accelerator.NNAPI, DelegateLog.Counts(12, 12), 34).opsNote!!.contains("builtin").not())
        // NNAPI that took nothing would leave the builtin kernels running under an "nnapi" label.
        assertThrows(AcceleratorUnavailable::class.java) { RuntimeChoice.interpreterOutcome(Accelerator.NNAPI, DelegateLog.Counts(0, 12), 34) }
        val silent = assertThrows(AcceleratorUnavailable::class.java) { RuntimeChoice.interpreterOutcome(Accelerator.NNAPI, null, 34) }
        assertTrue(silent.message, silent.message!!.contains("TfLiteNnapiDelegate"))
        val cpu = RuntimeChoice.interpreterOutcome(Accelerator.CPU, null, 34)
        assertEquals(0, cpu.delegatedOps)
        assertNull(cpu.totalOps)
        assertEquals(OpsSource.NO_DELEGATE, cpu.opsSource)
        assertThrows(IllegalArgumentException::class.java) { RuntimeChoice.interpreterOutcome(Accelerator.GPU, null, 34) }
    }

    @Test fun anNnapiThatTakesNothingFallsBackVisiblyThroughThePlan() {
        val opener = SessionOpener { _, acc, _ ->
            val outcome = if (acc == Accelerator.NNAPI) RuntimeChoice.interpreterOutcome(acc, DelegateLog.Counts(0, 5), 34)
            else RuntimeChoice.compiledModelOutcome(acc, setOf("cpu"))
            object : InferenceSession {
                override val outcome = outcome
                override fun run(inputs: List<NdArray>) = inputs
                override fun close() {}
            }
        }
        val session = AcceleratorPlan.open(opener, "m.tflite", Accelerator.NNAPI, 1)
        assertEquals(Accelerator.NNAPI, session.outcome.requested)
        assertEquals(Accelerator.XNNPACK, session.outcome.applied)
        assertTrue(session.outcome.fallbackReason!!.contains("NNAPI took no operator"))
        assertEquals(OpsSource.UNKNOWN, session.outcome.opsSource)
        assertNull(session.outcome.delegatedOps)
    }

    @Test fun theDelegateLogCountsOnlyLinesAfterTheMarkerAndOnlyThatDelegate() {
        val lines = listOf(
            "I tflite  : Replacing 3 out of 3 node(s) with delegate (TfLiteNnapiDelegate) node, yielding 1 partitions for subgraph 0.",
            "I PackagerBench: marker-1",
            "I tflite  : Created TensorFlow Lite XNNPACK delegate for CPU.",
            "I tflite  : Replacing 7 out of 7 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 1 partitions for subgraph 0.",
            "I tflite  : Replacing 9 out of 12 node(s) with delegate (TfLiteNnapiDelegate) node, yielding 2 partitions for subgraph 0 (main).",
            "I tflite  : Replacing 1 out of 2 node(s) with delegate (TfLiteNnapiDelegate) node, yielding 1 partitions for subgraph 1 (cond).",
        )
        assertEquals(DelegateLog.Counts(10, 14), DelegateLog.counts(lines, "marker-1", "TfLiteNnapiDelegate"))
        assertEquals(DelegateLog.Counts(7, 7), DelegateLog.counts(lines, "marker-1", "TfLiteXNNPackDelegate"))
        assertNull(DelegateLog.counts(lines.take(3), "marker-1", "TfLiteNnapiDelegate"))
        assertThrows(IllegalStateException::class.java) { DelegateLog.counts(lines, "marker-2", "TfLiteNnapiDelegate") }
    }

    @Test fun compiledModelCountsAreUnknownAndSayWhy() {
        val gpu = RuntimeChoice.compiledModelOutcome(Accelerator.GPU, setOf("cpu", "gpu"))
        assertEquals(OpsSource.UNKNOWN, gpu.opsSource)
        assertNull(gpu.delegatedOps)
        assertTrue(gpu.opsNote!!.contains("does not report"))
        val npu = RuntimeChoice.compiledModelOutcome(Accelerator.NPU, setOf("cpu", "npu"))
        assertTrue("an NPU run may be partly on CPU, and says so", npu.opsNote!!.contains("adds CPU"))
        assertThrows(IllegalArgumentException::class.java) { AcceleratorOutcome(Accelerator.GPU, Accelerator.GPU, delegatedOps = 3) }
    }

    @Test fun tensorsBindByNameNotPosition() {
        val specs = listOf(spec("image", 0), spec("mask", 1))
        assertEquals(listOf(1, 0), RuntimeChoice.bindByName(specs, listOf("mask", "image"), "input"))
        val e = assertThrows(ContractException::class.java) { RuntimeChoice.bindByName(specs, listOf("image", "other"), "input") }
        assertTrue(e.message, e.message!!.contains("mask"))
        assertThrows(ContractException::class.java) { RuntimeChoice.bindByName(listOf(spec("image", 0)), listOf("image", "mask"), "input") }
    }

    private class Res(val name: String, val log: MutableList<String>) : AutoCloseable {
        override fun close() { log += "close $name" }
    }

    @Test fun aFailedCreationClosesWhatItTookNewestFirst() {
        val log = mutableListOf<String>()
        val e = assertThrows(IllegalStateException::class.java) {
            CreationScope.build { scope ->
                scope.own(Res("model", log))
                scope.own(Res("input", log))
                throw IllegalStateException("output buffer failed")
            }
        }
        assertEquals("output buffer failed", e.message)
        assertEquals(listOf("close input", "close model"), log)
    }

    @Test fun aFinishedCreationKeepsItsResources() {
        val log = mutableListOf<String>()
        val owned = CreationScope.build { scope -> scope.own(Res("model", log)); scope.own(Res("input", log)); scope.commit() }
        assertEquals(2, owned.size)
        assertEquals(emptyList<String>(), log)
    }
}
