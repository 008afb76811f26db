package dev.packager.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Test

class BundleIndexTest {
    private fun index(name: String, model: String = "models/$name/$name.tflite") = """
        {"schema_version": 1, "bundles": [{"name": "$name", "version": "1", "task": "generic", "folder": "models/$name",
          "manifest": "models/$name/manifest.json", "model": "$model", "model_sha256": "${TestData.SHA}", "size_bytes": 10}]}
    """

    @Test fun parsesEntries() {
        val idx = BundleIndex.parse(index("digits"))
        assertEquals("models/digits/digits.tflite", idx.find("digits")!!.model)
        assertEquals(null, idx.find("other"))
    }

    @Test fun refusesPathsOutsideTheBundleFolder() {
        assertThrows(ContractException::class.java) { BundleIndex.parse(index("digits", model = "models/other/x.tflite")) }
        assertThrows(ContractException::class.java) { BundleIndex.parse(index("digits", model = "models/digits/../../x")) }
        assertThrows(ContractException::class.java) { BundleIndex.parse(index("..")) }
    }
}
