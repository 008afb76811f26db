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

    @Test fun nnapiHasNoRuntimeAndSaysWhy() {
        assertEquals(RuntimeChoice.Api.NONE, RuntimeChoice.apiFor(Accelerator.NNAPI))
        assertNotNull(RuntimeChoice.unavailableReason(Accelerator.NNAPI))
        for (a in listOf(Accelerator.CPU, Accelerator.XNNPACK, Accelerator.GPU, Accelerator.NPU)) assertNull(RuntimeChoice.unavailableReason(a))
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
