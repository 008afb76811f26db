package dev.packager.core.cli

import com.google.gson.GsonBuilder
import com.google.gson.JsonObject
import com.google.gson.JsonParser
import dev.packager.core.Accelerator
import dev.packager.core.BenchmarkRunner
import dev.packager.core.BundleIndex
import dev.packager.core.ColorSpace
import dev.packager.core.DeviceInfo
import dev.packager.core.EchoOpener
import dev.packager.core.LatencyStats
import dev.packager.core.MemoryProbe
import dev.packager.core.Manifests
import dev.packager.core.NdArray
import dev.packager.core.Npy
import dev.packager.core.Pixels
import dev.packager.core.Postprocess
import dev.packager.core.Preprocessor
import java.io.File
import kotlin.system.exitProcess

/**
 * Drives core from the Python tests (tests/android/), many jobs per JVM start: each line of the
 * jobs file is a JSON object {"op": ..., "out": path, ...}; each job writes its answer (or
 * {"error": ...}) to "out". Exit code 0 when every job ran, 1 when one failed unexpectedly.
 */
fun main(args: Array<String>) {
    if (args.size != 2 || args[0] != "batch") {
        System.err.println("usage: CoreCli batch JOBS.jsonl")
        exitProcess(2)
    }
    val gson = GsonBuilder().serializeNulls().create()
    var failed = false
    for (line in File(args[1]).readLines().filter { it.isNotBlank() }) {
        val job = JsonParser.parseString(line).asJsonObject
        val out = File(job["out"].asString)
        try {
            runJob(job, out)
        } catch (e: dev.packager.core.ContractException) {
            out.writeText(gson.toJson(JsonObject().apply { addProperty("error", e.message) }))
        } catch (e: Exception) {
            failed = true
            System.err.println("job $line failed: $e")
            e.printStackTrace()
        }
    }
    exitProcess(if (failed) 1 else 0)
}

private fun runJob(job: JsonObject, out: File) {
    val gson = GsonBuilder().serializeNulls().create()
    when (job["op"].asString) {
        // uint8 pixels (N, H, W, C) in the manifest's color space -> the model's input tensors (N, h, w, c)
        "preprocess" -> {
            val manifest = Manifests.parse(File(job["manifest"].asString).readText())
            val batch = Npy.read(File(job["pixels"].asString))
            val (n, h, w, c) = batch.shape.toList()
            val tensors = (0 until n).map { i ->
                val row = batch.row(i)
                Preprocessor.inputFor(manifest, Pixels(h, w, c, IntArray(h * w * c) { row.getLong(it).toInt() }))
            }
            Npy.write(out, NdArray.concat(tensors))
        }
        // packed ARGB int32 (H, W) -> uint8 pixels (1, H, W, C) in the given color space
        "argb" -> {
            val argb = Npy.read(File(job["argb"].asString))
            val (h, w) = argb.shape.toList()
            val px = Pixels.fromArgb(argb.toIntArray(), w, h, ColorSpace.valueOf(job["color_space"].asString))
            Npy.write(out, NdArray.ofLongs(dev.packager.core.DType.UINT8, intArrayOf(1, h, w, px.channels), LongArray(px.values.size) { px.values[it].toLong() }))
        }
        // output rows (N, classes) of output "index" -> top-k per row
        "topk" -> {
            val manifest = Manifests.parse(File(job["manifest"].asString).readText())
            val outputs = Npy.read(File(job["outputs"].asString))
            val index = job["index"]?.asInt ?: 0
            val rows = (0 until outputs.rows).map { i ->
                val top = Postprocess.topK(Postprocess.dequantize(outputs.row(i), manifest.outputs[index].quantization), job["k"].asInt, manifest.labels)
                top.map { mapOf("index" to it.index, "label" to it.label, "score" to it.score.toDouble()) }
            }
            out.writeText(gson.toJson(mapOf("rows" to rows)))
        }
        // a detector's golden outputs (four .npy files, batch first) -> detections per sample
        "detect" -> {
            val manifest = Manifests.parse(File(job["manifest"].asString).readText())
            val outputs = job["outputs"].asJsonArray.map { Npy.read(File(it.asString)) }
            val rows = (0 until outputs[0].rows).map { i ->
                dev.packager.core.DetectionDecoder.decode(manifest, outputs.map { it.row(i) }, job["min_score"]?.asDouble ?: 0.0).map {
                    mapOf("box" to it.box.toList(), "class" to it.classIndex, "label" to it.label, "score" to it.score)
                }
            }
            out.writeText(gson.toJson(mapOf("rows" to rows)))
        }
        // a segmenter's outputs (one .npy, batch first, raw scores or compact masks) -> one class mask per sample (.npy, int32)
        "segment" -> {
            val manifest = Manifests.parse(File(job["manifest"].asString).readText())
            val outputs = Npy.read(File(job["outputs"].asString))
            val masks = (0 until outputs.rows).map { dev.packager.core.SegmentationDecoder.decode(manifest, outputs.row(it)) }
            val h = masks[0].height
            val w = masks[0].width
            Npy.write(out, NdArray.ofLongs(dev.packager.core.DType.INT32, intArrayOf(masks.size, h, w),
                LongArray(masks.size * h * w) { masks[it / (h * w)].classes[it % (h * w)].toLong() }))
        }
        "manifest" -> {
            val m = Manifests.parse(File(job["manifest"].asString).readText())
            out.writeText(gson.toJson(mapOf(
                "name" to m.name, "version" to m.version, "task" to m.task, "model_file" to m.modelFile,
                "model_sha256" to m.modelSha256, "labels" to m.labels, "files" to m.files,
                "inputs" to m.inputs.map { mapOf("name" to it.name, "index" to it.index, "shape" to it.shape, "dtype" to it.dtype.numpyName,
                    "scale" to it.quantization?.scale, "zero_point" to it.quantization?.zeroPoint) },
                "outputs" to m.outputs.map { mapOf("name" to it.name, "index" to it.index, "shape" to it.shape, "dtype" to it.dtype.numpyName,
                    "scale" to it.quantization?.scale, "zero_point" to it.quantization?.zeroPoint) },
                "preprocessing" to m.preprocessing?.let { mapOf("size" to listOf(it.height, it.width), "color_space" to it.colorSpace.name,
                    "mean" to it.mean, "std" to it.std, "resize_method" to it.resizeMethod.manifestName) },
            )))
        }
        "index" -> {
            val idx = BundleIndex.parse(File(job["index"].asString).readText())
            out.writeText(gson.toJson(mapOf("bundles" to idx.bundles.map { mapOf("name" to it.name, "manifest" to it.manifest, "model" to it.model) })))
        }
        "stats" -> {
            val s = LatencyStats.of(job["latencies"].asJsonArray.map { it.asDouble })!!
            out.writeText(gson.toJson(mapOf("mean" to s.meanMs, "std" to s.stdMs, "min" to s.minMs, "max" to s.maxMs,
                "p50" to s.p50Ms, "p90" to s.p90Ms, "p99" to s.p99Ms)))
        }
        // the benchmark contract with a model stand-in (output = input); "unavailable" lists accelerators that refuse
        "bench" -> {
            val unavailable = job["unavailable"]?.asJsonArray?.map { Accelerator.of(it.asString) }?.toSet() ?: emptySet()
            val root = job["allowed_root"]?.takeIf { !it.isJsonNull }?.let { File(it.asString) }
            val device = DeviceInfo("host", System.getProperty("os.name"), 0, System.getProperty("os.arch"), androidVersion = "jvm")
            val runner = BenchmarkRunner(device, EchoOpener(unavailable), memory = object : MemoryProbe {
                    override fun baselineKb() = 0L
                    override fun peakKb() = Runtime.getRuntime().totalMemory() / 1024
                },
                runnerVersion = "core-test", allowedRoot = root)
            val written = runner.runFile(File(job["request"].asString))
            out.writeText(gson.toJson(mapOf("result" to written?.path)))
        }
        else -> throw IllegalArgumentException("unknown op ${job["op"]}")
    }
}
