package dev.packager.core

/**
 * How many operators a TFLite delegate took, read from the line TFLite's subgraph logs when a
 * delegate claims nodes (tflite/core/subgraph.cc, at LiteRT v2.2.0 and in TFLite 2.16):
 *   "Replacing 9 out of 12 node(s) with delegate (TfLiteNnapiDelegate) node, yielding 2 partitions ..."
 * On Android that line is logged at VERBOSE, which Android always prints (logcat tag "tflite").
 * The app writes a marker line before it creates the interpreter and reads only the lines after
 * it, so an earlier model's lines never count.
 */
object DelegateLog {
    data class Counts(val delegated: Int, val total: Int)

    private val REPLACING = Regex("""Replacing (\d+) out of (\d+) node\(s\) with delegate \(([^)]*)\) node""")

    /**
     * The counts for [delegate] (e.g. "TfLiteNnapiDelegate") in the [lines] after the last one
     * containing [marker], summed over subgraphs; null when no such line follows the marker
     * (the delegate took nothing, or the log could not be read). Throws if the marker is missing:
     * then nothing can tell this model's lines from another's.
     */
    fun counts(lines: List<String>, marker: String, delegate: String): Counts? {
        val start = lines.indexOfLast { marker in it }
        if (start < 0) throw IllegalStateException("the log has no marker '$marker'")
        var delegated = 0
        var total = 0
        var seen = false
        for (line in lines.subList(start + 1, lines.size)) {
            val m = REPLACING.find(line) ?: continue
            if (m.groupValues[3] != delegate) continue
            delegated += m.groupValues[1].toInt()
            total += m.groupValues[2].toInt()
            seen = true
        }
        return if (seen) Counts(delegated, total) else null
    }
}
