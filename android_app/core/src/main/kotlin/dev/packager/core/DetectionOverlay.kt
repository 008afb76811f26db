package dev.packager.core

/**
 * Boxes drawn onto packed ARGB pixels (an Android Bitmap's getPixels), so the app can show a
 * detector's result without a Canvas: each box's outline, [thickness] pixels wide, in its class's
 * colour. Box coordinates are normalized (ymin, xmin, ymax, xmax); pixels outside the outlines
 * are left as they are.
 */
object DetectionOverlay {
    val PALETTE = intArrayOf(0xFFE6194B.toInt(), 0xFF3CB44B.toInt(), 0xFF4363D8.toInt(), 0xFFF58231.toInt(), 0xFF911EB4.toInt(),
        0xFF42D4F4.toInt(), 0xFFF032E6.toInt(), 0xFFBFEF45.toInt())

    fun colourOf(classIndex: Int): Int = PALETTE[Math.floorMod(classIndex, PALETTE.size)]

    fun outline(argb: IntArray, width: Int, height: Int, detections: List<Detection>, thickness: Int = 2): IntArray {
        require(argb.size == width * height) { "${argb.size} pixels for a ${width}x$height image" }
        val out = argb.copyOf()
        for (d in detections) {
            val top = (d.box[0] * height).toInt().coerceIn(0, height - 1)
            val left = (d.box[1] * width).toInt().coerceIn(0, width - 1)
            val bottom = (d.box[2] * height).toInt().coerceIn(0, height - 1)
            val right = (d.box[3] * width).toInt().coerceIn(0, width - 1)
            val colour = colourOf(d.classIndex)
            for (y in top..bottom) for (x in left..right) {
                val edge = y - top < thickness || bottom - y < thickness || x - left < thickness || right - x < thickness
                if (edge) out[y * width + x] = colour
            }
        }
        return out
    }
}
