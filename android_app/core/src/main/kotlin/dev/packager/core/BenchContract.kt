package dev.packager.core

import com.google.gson.JsonArray
import com.google.gson.JsonNull
import com.google.gson.JsonObject
import com.google.gson.JsonPrimitive
import java.io.File

/** The accelerators of contract 2, with their names in the request/result JSON. */
enum class Accelerator(val id: String) {
    CPU("cpu"), XNNPACK("xnnpack"), GPU("gpu"), NNAPI("nnapi"), NPU("npu");

    companion object {
        fun of(id: String): Accelerator = entries.firstOrNull { it.id == id }
            ?: throw ContractException("accelerator '$id' is not one of ${entries.joinToString { it.id }}")
    }
}

/** packager/schemas/bench-request.schema.json, version 1. */
data class BenchRequest(
    val requestId: String,
    val bundle: String?,
    val modelPath: String,
    val modelSha256: String?,
    val accelerator: Accelerator,
    val threads: Int,
    val warmupRuns: Int,
    val measuredRuns: Int,
    val inputFiles: List<String>,
    val outputDir: String,
    val saveOutputs: Boolean,
    val resultPath: String,
    val timeoutS: Double?,
) {
    companion object {
        private val REQUEST_ID = Regex("^[A-Za-z0-9_.-]{1,128}$")
        private val SHA256 = Regex("^[0-9a-f]{64}$")

        fun parse(text: String): BenchRequest {
            val r = Fields(Json.parseObject(text, "benchmark request"), "")
            if (r.long("schema_version") != 1L) r.fail("schema_version", "must be 1")
            val known = setOf("schema_version", "request_id", "bundle", "model_path", "model_sha256", "accelerator", "threads",
                "warmup_runs", "measured_runs", "input_files", "output_dir", "save_outputs", "result_path", "timeout_s")
            r.obj.keySet().firstOrNull { it !in known }?.let { r.fail(it, "is not a field of bench-request version 1") }
            fun absolute(key: String): String = r.string(key).also { if (!it.startsWith("/")) r.fail(key, "must be an absolute path") }
            val id = r.string("request_id")
            if (!REQUEST_ID.matches(id)) r.fail("request_id", "'$id' must be 1-128 of A-Z a-z 0-9 _ . -")
            val sha = r.stringOrNull("model_sha256")
            if (sha != null && !SHA256.matches(sha)) r.fail("model_sha256", "is not a lowercase sha256")
            val timeout = if (r.has("timeout_s")) r.number("timeout_s").also { if (!(it > 0)) r.fail("timeout_s", "must be positive") } else null
            return BenchRequest(
                requestId = id,
                bundle = r.stringOrNull("bundle"),
                modelPath = absolute("model_path"),
                modelSha256 = sha,
                accelerator = try { Accelerator.of(r.string("accelerator")) } catch (e: ContractException) { r.fail("accelerator", e.message ?: "") },
                threads = r.int("threads", 1, 64),
                warmupRuns = r.int("warmup_runs", 0, 10000),
                measuredRuns = r.int("measured_runs", 1, 100000),
                inputFiles = r.strings("input_files").onEachIndexed { i, p -> if (!p.startsWith("/")) r.fail("input_files/$i", "must be an absolute path") },
                outputDir = absolute("output_dir"),
                saveOutputs = r.boolean("save_outputs", true),
                resultPath = absolute("result_path"),
                timeoutS = timeout,
            )
        }

        /** The fields an error result needs, from a request that failed to parse; null when not even those are there. */
        fun salvage(text: String): Triple<String, Accelerator, String>? = try {
            val r = Fields(Json.parseObject(text, "benchmark request"), "")
            val id = r.string("request_id").takeIf { REQUEST_ID.matches(it) }
            val path = r.string("result_path").takeIf { it.startsWith("/") }
            val acc = Accelerator.entries.firstOrNull { it.id == r.stringOrNull("accelerator") }
            if (id != null && path != null && acc != null) Triple(id, acc, path) else null
        } catch (e: ContractException) {
            null
        }
    }
}

/** What the result says about the handset. */
data class DeviceInfo(
    val manufacturer: String,
    val model: String,
    val sdk: Int,
    val abi: String,
    val soc: String? = null,
    val serial: String? = null,
    val androidVersion: String? = null,
)

/**
 * Where a result's delegated_ops/total_ops come from (accelerator.ops_source in contract 2):
 * - DELEGATE_LOG: TFLite's own line "Replacing N out of M node(s) with delegate (...)" (the app's
 *   Interpreter with the NNAPI delegate, read from its own logcat);
 * - DELEGATE_GRAPH: the delegate node(s) of the graph the runtime reports, and the operators
 *   between their input and output tensors (the virtual handset's XNNPACK);
 * - NO_DELEGATE: builtin kernels, no delegate: delegated_ops is 0;
 * - UNKNOWN: the runtime does not say (CompiledModel 2.2.0); ops_note says why, counts are null.
 */
enum class OpsSource(val id: String) { DELEGATE_LOG("delegate_log"), DELEGATE_GRAPH("delegate_graph"), NO_DELEGATE("no_delegate"), UNKNOWN("unknown") }

/** Which accelerator ran the model, why not the one requested, and how much of it the accelerator took. */
data class AcceleratorOutcome(
    val requested: Accelerator,
    val applied: Accelerator?,
    val fallbackReason: String? = null,
    val delegatedOps: Int? = null,
    val totalOps: Int? = null,
    val opsSource: OpsSource = OpsSource.UNKNOWN,
    /** Why the counts are unknown, or a remark on them (e.g. NNAPI's deprecation). */
    val opsNote: String? = null,
) {
    init {
        require(opsSource != OpsSource.UNKNOWN || (delegatedOps == null && totalOps == null)) { "counts of unknown source" }
    }
}

/** packager/schemas/bench-result.schema.json, version 1. */
data class BenchResult(
    val requestId: String,
    val status: String,
    val device: DeviceInfo,
    val modelPath: String,
    val modelSha256: String?,
    val accelerator: AcceleratorOutcome,
    val threads: Int,
    val initMs: Double?,
    val firstInferenceMs: Double?,
    val latenciesMs: List<Double>,
    val peakMemoryKb: Long?,
    val outputFiles: List<String>,
    val errors: List<String>,
    val started: String?,
    val finished: String?,
    val runnerVersion: String?,
    val runner: String = "app",
    val virtual: Boolean = false,
) {
    fun toJson(): String {
        val o = JsonObject()
        o.addProperty("schema_version", 1)
        o.addProperty("request_id", requestId)
        o.addProperty("status", status)
        o.addProperty("runner", runner)
        o.addProperty("virtual", virtual)
        o.add("device", JsonObject().apply {
            addProperty("manufacturer", device.manufacturer)
            addProperty("model", device.model)
            addProperty("sdk", device.sdk)
            addProperty("abi", device.abi)
            add("soc", device.soc?.let(::JsonPrimitive) ?: JsonNull.INSTANCE)
            device.serial?.let { addProperty("serial", it) }
            device.androidVersion?.let { addProperty("android_version", it) }
        })
        o.addProperty("model_path", modelPath)
        o.add("model_sha256", modelSha256?.let(::JsonPrimitive) ?: JsonNull.INSTANCE)
        o.add("accelerator", JsonObject().apply {
            addProperty("requested", accelerator.requested.id)
            add("applied", accelerator.applied?.let { JsonPrimitive(it.id) } ?: JsonNull.INSTANCE)
            add("fallback_reason", accelerator.fallbackReason?.let(::JsonPrimitive) ?: JsonNull.INSTANCE)
            add("delegated_ops", accelerator.delegatedOps?.let(::JsonPrimitive) ?: JsonNull.INSTANCE)
            add("total_ops", accelerator.totalOps?.let(::JsonPrimitive) ?: JsonNull.INSTANCE)
            addProperty("ops_source", accelerator.opsSource.id)
            add("ops_note", accelerator.opsNote?.let(::JsonPrimitive) ?: JsonNull.INSTANCE)
        })
        o.addProperty("threads", threads)
        o.add("init_ms", initMs?.let(::JsonPrimitive) ?: JsonNull.INSTANCE)
        o.add("first_inference_ms", firstInferenceMs?.let(::JsonPrimitive) ?: JsonNull.INSTANCE)
        o.add("latencies_ms", JsonArray().apply { latenciesMs.forEach { add(it) } })
        o.add("peak_memory_kb", peakMemoryKb?.let(::JsonPrimitive) ?: JsonNull.INSTANCE)
        // What peak_memory_kb measures; null exactly when it is null (unknown).
        o.add("peak_memory_measure", peakMemoryKb?.let { JsonPrimitive(MemoryProbe.MEASURE) } ?: JsonNull.INSTANCE)
        o.add("output_files", JsonArray().apply { outputFiles.forEach { add(it) } })
        o.add("errors", JsonArray().apply { errors.forEach { add(it) } })
        started?.let { o.addProperty("started", it) }
        finished?.let { o.addProperty("finished", it) }
        runnerVersion?.let { o.addProperty("runner_version", it) }
        return Json.write(o)
    }

    fun writeTo(file: File) = AtomicFiles.writeText(file, toJson())
}
