package dev.packager.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test

class ManifestTest {
    @Test fun parsesTheFieldsTheAppUses() {
        val m = Manifests.parse(TestData.manifestJson())
        assertEquals("digits", m.name)
        assertEquals("digits.tflite", m.modelFile)
        assertEquals(DType.INT8, m.imageInput.dtype)
        assertEquals(Quantization(0.0078125, -1), m.imageInput.quantization)
        assertEquals(7, m.outputs[0].index)
        assertEquals(listOf("zero", "one", "two"), m.labels)
        assertEquals(ColorSpace.GRAYSCALE, m.preprocessing!!.colorSpace)
        assertEquals(16.0, m.preprocessing?.stdOf(0)!!, 0.0)
        assertEquals(2, m.goldenCount)
        assertTrue(m.files.containsAll(listOf("digits.tflite", "manifest.json", "labels.txt", "golden/input_0.npy", "golden/images/0.png")))
    }

    @Test fun aBundleWithoutLabelsHasNoLabelsFileAndClassifiesByIndex() {
        // a generic bundle: packager writes no labels.txt and labels {"file": null, "values": []}
        val m = Manifests.parse(TestData.manifestJson(labels = """{"file": null, "values": []}"""))
        assertNull(m.labelsFile)
        assertEquals(emptyList<String>(), m.labels)
        assertFalse(m.files.contains("labels.txt"))
        assertTrue(m.files.containsAll(listOf("digits.tflite", "manifest.json", "golden/input_0.npy")))
        val probs = NdArray(DType.FLOAT32, intArrayOf(1, 3), java.nio.ByteBuffer.allocate(12).order(java.nio.ByteOrder.LITTLE_ENDIAN)
            .putFloat(0.1f).putFloat(0.7f).putFloat(0.2f).array())
        val top = Postprocess.classify(m, listOf(probs), 2)
        assertEquals(listOf("#1", "#2"), top.map { it.label })
    }

    @Test fun labelsOfANamedOutputAreUsedForThatOutput() {
        val outputs = """[{"name": "boxes", "index": 3, "shape": [1, 4], "dtype": "float32", "quantization": null, "semantics": "other"},
            {"name": "scores", "index": 5, "shape": [1, 2], "dtype": "float32", "quantization": null, "semantics": "probabilities"}]"""
        val m = Manifests.parse(TestData.manifestJson(outputs = outputs, labels = """{"file": "labels.txt", "values": ["no", "yes"], "output": "scores"}"""))
        assertEquals("scores", m.labelsOutput)
        assertEquals(1, m.labelsOutputIndex)
        fun floats(vararg v: Float) = java.nio.ByteBuffer.allocate(4 * v.size).order(java.nio.ByteOrder.LITTLE_ENDIAN).apply { v.forEach { putFloat(it) } }.array()
        val boxes = NdArray(DType.FLOAT32, intArrayOf(1, 4), floats(9f, 8f, 7f, 6f))
        val scores = NdArray(DType.FLOAT32, intArrayOf(1, 2), floats(0.3f, 0.7f))
        assertEquals(listOf("yes", "no"), Postprocess.classify(m, listOf(boxes, scores), 2).map { it.label })
        // without labels.output the first output is the labelled one, as before
        assertEquals(0, Manifests.parse(TestData.manifestJson()).labelsOutputIndex)
    }

    @Test fun floatInputsHaveNoQuantization() {
        val m = Manifests.parse(TestData.manifestJson(inputDtype = "float32", quantization = "null", preprocessing = "null"))
        assertNull(m.imageInput.quantization)
        assertNull(m.preprocessing)
    }

    @Test fun refusesUnsafeNamesAndPaths() {
        val name = assertThrows(ContractException::class.java) { Manifests.parse(TestData.manifestJson(name = "../evil")) }
        assertTrue(name.message, name.message!!.startsWith("name "))
        assertThrows(ContractException::class.java) { Manifests.parse(TestData.manifestJson(modelFile = "../../x.tflite")) }
        assertThrows(ContractException::class.java) { Manifests.parse(TestData.manifestJson(modelFile = "/etc/passwd")) }
        assertFalse(Manifests.isSafeName("a..b"))
        assertFalse(Manifests.isSafeName(".hidden"))
        assertTrue(Manifests.isSafeName("mobilenet_v2-int8.1"))
    }

    @Test fun errorsNameTheField() {
        val e = assertThrows(ContractException::class.java) {
            Manifests.parse(TestData.manifestJson(quantization = """{"scale": -1, "zero_point": 0}"""))
        }
        assertEquals("inputs/0/quantization/scale must be positive", e.message)
        val missing = assertThrows(ContractException::class.java) { Manifests.parse("""{"schema_version": 1}""") }
        assertEquals("name is missing", missing.message)
        assertThrows(ContractException::class.java) { Manifests.parse("[1, 2]") }
        assertThrows(ContractException::class.java) { Manifests.parse("{not json") }
        val channels = assertThrows(ContractException::class.java) {
            Manifests.parse(TestData.manifestJson(preprocessing = """{"size": [8, 8], "color_space": "GRAYSCALE", "mean": [0, 0, 0], "std": [1], "resize_method": "bilinear", "layout": "NHWC"}"""))
        }
        assertTrue(channels.message, channels.message!!.contains("preprocessing/mean"))
    }
}
