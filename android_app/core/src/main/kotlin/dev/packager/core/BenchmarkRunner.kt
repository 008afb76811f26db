package dev.packager.core

import java.io.File
import java.security.MessageDigest
import java.time.Instant

/**
 * Runs benchmark requests (docs/CONTRACTS.md, contract 2) through a [SessionOpener]: checks the model and
 * inputs, times init, the first inference, warm-up and every measured run, saves the outputs of
 * every input sample, and writes the result atomically. Failures become status "error" results
 * with their reasons; nothing claims success it did not have.
 */
class BenchmarkRunner(
    private val device: DeviceInfo,
    private val opener: SessionOpener,
    /** Peak memory of this request: see [MemoryProbe]; the result's peak_memory_kb is the rise. */
    private val memory: MemoryProbe = MemoryProbe.NONE,
    private val nanoTime: () -> Long = System::nanoTime,
    private val runnerVersion: String? = null,
    /** Every file a request names must be inside this folder (the app's own data), when set. */
    private val allowedRoot: File? = null,
) {
    /** Read the request at [requestPath], run it, write its result; returns the result file (null if none could be written). */
    fun runFile(requestPath: File): File? {
        val text = try {
            checkAllowed(requestPath.path)
            requestPath.readText()
        } catch (e: Exception) {
            return null
        }
        val request = try {
            BenchRequest.parse(text)
        } catch (e: ContractException) {
            val (id, accelerator, resultPath) = BenchRequest.salvage(text) ?: return null
            if (!isAllowed(resultPath)) return null
            val now = Instant.now().toString()
            val result = errorResult(id, accelerator, "", 1, listOf("invalid request: ${e.message}"), now)
            return File(resultPath).also { result.writeTo(it) }
        }
        val result = run(request)
        return try {
            checkAllowed(request.resultPath)
            File(request.resultPath).also { result.writeTo(it) }
        } catch (e: Exception) {
            null
        }
    }

    fun run(request: BenchRequest): BenchResult {
        val started = Instant.now().toString()
        val latencies = ArrayList<Double>(request.measuredRuns)
        var initMs: Double? = null
        var firstMs: Double? = null
        var outcome = AcceleratorOutcome(request.accelerator, null)
        val outputFiles = mutableListOf<String>()
        val errors = mutableListOf<String>()
        var session: InferenceSession? = null
        var baselineKb: Long? = null
        try {
            (listOf(request.modelPath, request.outputDir, request.resultPath) + request.inputFiles).forEach(::checkAllowed)
            val model = File(request.modelPath)
            if (!model.isFile) throw ContractException("model ${request.modelPath} does not exist")
            val sha = sha256(model)
            if (request.modelSha256 != null && sha != request.modelSha256) {
                throw ContractException("model ${request.modelPath} has sha256 $sha, the request expects ${request.modelSha256}")
            }
            if (request.inputFiles.isEmpty()) throw ContractException("the request names no input files")
            val inputs = request.inputFiles.map { Npy.read(File(it)) }
            val samples = inputs[0].rows
            if (samples < 1 || inputs.any { it.shape.isEmpty() || it.rows != samples }) {
                throw ContractException("input files must be batch-first with the same number of rows (${inputs.map { it.shape.toList() }})")
            }
            val deadline = request.timeoutS?.let { nanoTime() + (it * 1e9).toLong() }
            fun sample(i: Int) = inputs.map { it.row(i % samples) }
            fun checkTime() {
                if (deadline != null && nanoTime() > deadline) throw ContractException("timed out after ${request.timeoutS} s")
            }

            opener.prepare(request.modelPath)
            baselineKb = memory.baselineKb() // just before loading: the rise is this model on this accelerator
            val t0 = nanoTime()
            session = AcceleratorPlan.open(opener, request.modelPath, request.accelerator, request.threads)
            initMs = ms(nanoTime() - t0)
            outcome = session.outcome

            val first = sample(0)
            val t1 = nanoTime()
            session.run(first)
            firstMs = ms(nanoTime() - t1)

            for (w in 0 until request.warmupRuns) { session.run(sample(w)); checkTime() }
            for (m in 0 until request.measuredRuns) {
                val feed = sample(m)
                val t = nanoTime()
                session.run(feed)
                latencies += ms(nanoTime() - t)
                checkTime()
            }

            if (request.saveOutputs) {
                val perSample = (0 until samples).map { session.run(sample(it)) }
                for (k in perSample[0].indices) {
                    val file = File(request.outputDir, "output_$k.npy")
                    Npy.write(file, NdArray.concat(perSample.map { it[k] }))
                    outputFiles += file.path
                }
            }
        } catch (e: Exception) {
            errors += e.message ?: e.javaClass.name
        } catch (e: OutOfMemoryError) {
            errors += "out of memory: ${e.message}"
        } finally {
            try { session?.close() } catch (e: Exception) { errors += "closing the model failed: ${e.message}" }
        }
        val peakRiseKb = MemoryProbe.rise(baselineKb, memory.peakKb())
        val ok = errors.isEmpty() && latencies.size == request.measuredRuns
        return BenchResult(
            requestId = request.requestId,
            status = if (ok) "ok" else "error",
            device = device,
            modelPath = request.modelPath,
            modelSha256 = request.modelSha256,
            accelerator = outcome,
            threads = request.threads,
            initMs = initMs,
            firstInferenceMs = firstMs,
            latenciesMs = latencies,
            peakMemoryKb = peakRiseKb,
            outputFiles = outputFiles,
            errors = errors,
            started = started,
            finished = Instant.now().toString(),
            runnerVersion = runnerVersion,
        )
    }

    private fun errorResult(id: String, accelerator: Accelerator, modelPath: String, threads: Int, errors: List<String>, now: String) =
        BenchResult(id, "error", device, modelPath, null, AcceleratorOutcome(accelerator, null), threads, null, null,
            emptyList(), null, emptyList(), errors, now, now, runnerVersion)

    private fun isAllowed(path: String): Boolean {
        val root = allowedRoot ?: return true
        val canonicalRoot = root.canonicalFile
        var f: File? = File(path).canonicalFile
        while (f != null) {
            if (f == canonicalRoot) return true
            f = f.parentFile
        }
        return false
    }

    private fun checkAllowed(path: String) {
        if (!isAllowed(path)) throw ContractException("$path is outside ${allowedRoot?.path}, where this app reads and writes benchmark files")
    }

    companion object {
        fun ms(nanos: Long): Double = nanos / 1e6

        fun sha256(file: File): String {
            val digest = MessageDigest.getInstance("SHA-256")
            file.inputStream().use { input ->
                val buffer = ByteArray(1 shl 16)
                while (true) {
                    val n = input.read(buffer)
                    if (n < 0) break
                    digest.update(buffer, 0, n)
                }
            }
            return digest.digest().joinToString("") { "%02x".format(it) }
        }
    }
}
