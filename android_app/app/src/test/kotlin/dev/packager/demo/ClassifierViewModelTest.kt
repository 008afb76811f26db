package dev.packager.demo

import org.robolectric.RuntimeEnvironment
import dev.packager.core.Accelerator
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.annotation.GraphicsMode

/**
 * The classifier screen's states, through the real ClassifierViewModel, BundleRepository and
 * ClassifierHelper on the real framework: bundles from the real assets, PNGs decoded by Android's
 * own BitmapFactory (native graphics), core's preprocessing and postprocessing; the runtime replays
 * the host's golden outputs. Compose itself (MainActivity's screen) is not run here.
 */
@RunWith(RobolectricTestRunner::class)
@GraphicsMode(GraphicsMode.Mode.NATIVE)
class ClassifierViewModelTest {
    private val app: ReplayApp get() = RuntimeEnvironment.getApplication() as ReplayApp

    private fun loaded(vm: ClassifierViewModel): UiState =
        awaitMain("a bundle loaded", read = { vm.state.value }) { !it.busy && (it.outcome != null || it.error != null) && it.samples.isNotEmpty() || it.error != null }

    @Test
    fun bundlesComeFromTheInstalledAssetsAndTheFirstLoads() {
        val vm = ClassifierViewModel(app)
        val s = loaded(vm)
        assertEquals(Expected.json.getAsJsonArray("bundles").map { it.asString }, s.bundles.map { it.name })
        assertNull(s.error)
        assertEquals("digits", s.bundle?.name)
        assertEquals(Accelerator.XNNPACK, s.outcome?.applied)
        assertNull(s.outcome?.fallbackReason)
        val digits = Expected.json.getAsJsonObject("digits")
        val golden = digits.getAsJsonArray("golden_images").map { it.asString }
        val generic = Expected.json.getAsJsonArray("generic_samples").map { it.asString }
        assertEquals(golden + generic, s.samples)
        val shown = awaitMain("the first sample's preview", read = { vm.state.value }) { it.preview != null }
        assertEquals(golden[0], shown.sample)
        assertEquals(listOf(8, 8), listOf(shown.preview!!.width, shown.preview!!.height))
    }

    @Test
    fun aGoldenImageClassifiesAsOnTheHost() {
        val vm = ClassifierViewModel(app)
        loaded(vm)
        val digits = Expected.json.getAsJsonObject("digits")
        val row = digits.get("row").asInt
        vm.selectSample(digits.getAsJsonArray("golden_images")[row].asString)
        awaitMain("the preview", read = { vm.state.value }) { it.preview != null && it.sample == digits.getAsJsonArray("golden_images")[row].asString }
        vm.classify()
        val s = awaitMain("a result", read = { vm.state.value }) { !it.busy && (it.result != null || it.error != null) }
        assertNull(s.error)
        val top = digits.getAsJsonArray("top").map { it.asJsonObject }
        assertEquals(top.map { it.get("label").asString }, s.result!!.categories.map { it.label })
        top.zip(s.result!!.categories).forEach { (want, got) -> assertEquals(want.get("score").asFloat, got.score, 0f) }
        assertNull(s.result!!.detections)
    }

    @Test
    fun aRefusedAcceleratorFallsBackVisibly() {
        app.runtimes = ReplayRuntimes(refuse = setOf(Accelerator.XNNPACK))
        try {
            val s = loaded(ClassifierViewModel(app))
            assertEquals(Accelerator.XNNPACK, s.outcome?.requested)
            assertEquals(Accelerator.CPU, s.outcome?.applied)
            assertTrue(s.outcome?.fallbackReason, s.outcome!!.fallbackReason!!.startsWith("xnnpack: xnnpack refused"))
        } finally {
            app.runtimes = ReplayRuntimes()
        }
    }

    @Test
    fun errorsReachTheScreen() {
        app.runtimes = ReplayRuntimes(refuse = Accelerator.entries.toSet())
        try {
            val s = loaded(ClassifierViewModel(app))
            assertNull(s.outcome)
            assertTrue(s.error, s.error!!.startsWith("Could not load digits: no accelerator could load the model"))
        } finally {
            app.runtimes = ReplayRuntimes()
        }
        // a sample the model has no golden output for: the run fails and the screen says so
        val vm = ClassifierViewModel(app)
        loaded(vm)
        vm.selectSample("samples/checker.png")
        awaitMain("the checker preview", read = { vm.state.value }) { it.preview != null && it.sample == "samples/checker.png" }
        vm.classify()
        val s = awaitMain("an error", read = { vm.state.value }) { !it.busy && it.error != null }
        assertNull(s.result)
        assertEquals("the replaying runtime knows only the bundle's golden inputs", s.error)
    }

    @Test
    fun aDetectorBundleGivesTheHostsBoxes() {
        val vm = ClassifierViewModel(app)
        val first = loaded(vm)
        val shapes = Expected.json.getAsJsonObject("shapes")
        vm.selectBundle(first.bundles.single { it.name == "shapes" })
        awaitMain("shapes loaded", read = { vm.state.value }) { !it.busy && it.bundle?.name == "shapes" && it.outcome != null && it.preview != null }
        val image = shapes.getAsJsonArray("golden_images")[shapes.get("row").asInt].asString
        vm.selectSample(image)
        awaitMain("the preview", read = { vm.state.value }) { it.preview != null && it.sample == image }
        vm.classify()
        val s = awaitMain("detections", read = { vm.state.value }) { !it.busy && (it.result != null || it.error != null) }
        assertNull(s.error)
        val got = s.result!!.detections!!
        val want = shapes.getAsJsonArray("detections").map { it.asJsonObject }
        assertTrue("the golden image has detections over the app's threshold", want.isNotEmpty())
        assertEquals(want.map { it.get("class").asInt to it.get("label").asString }, got.map { it.classIndex to it.label })
        want.zip(got).forEach { (w, g) ->
            assertEquals(w.get("score").asDouble, g.score, 1e-12)
            w.getAsJsonArray("box").map { it.asDouble }.zip(g.box.toList()).forEach { (a, b) -> assertEquals(a, b, 1e-12) }
        }
        val overlay = assertNotNull(s.result!!.overlay).let { s.result!!.overlay!! }
        assertEquals(listOf(s.preview!!.width, s.preview!!.height), listOf(overlay.width, overlay.height))
        // the outline is drawn: some pixel differs from the sample's
        val a = IntArray(overlay.width * overlay.height).also { overlay.getPixels(it, 0, overlay.width, 0, 0, overlay.width, overlay.height) }
        val b = IntArray(a.size).also { s.preview!!.getPixels(it, 0, overlay.width, 0, 0, overlay.width, overlay.height) }
        assertTrue(!a.contentEquals(b))
    }
}
