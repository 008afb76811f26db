package dev.packager.demo

import android.os.Build
import dev.packager.core.DeviceInfo
import dev.packager.core.MemoryProbe
import java.io.File

/** What the benchmark result says about this handset and this process. */
object DeviceProbe {
    fun deviceInfo(): DeviceInfo = DeviceInfo(
        manufacturer = Build.MANUFACTURER,
        model = Build.MODEL,
        sdk = Build.VERSION.SDK_INT,
        abi = Build.SUPPORTED_ABIS.firstOrNull() ?: "unknown",
        soc = if (Build.VERSION.SDK_INT >= 31) "${Build.SOC_MANUFACTURER} ${Build.SOC_MODEL}" else Build.HARDWARE,
        androidVersion = Build.VERSION.RELEASE,
    )

    /**
     * This process's memory for core's benchmark: the baseline restarts the kernel's peak
     * (writing 5 to /proc/self/clear_refs resets VmHWM to the current resident set) and reads
     * VmRSS; the peak is VmHWM. If the reset is refused the baseline is null, and the result says
     * the peak is unknown instead of reporting the process's lifetime peak.
     */
    object ProcMemory : MemoryProbe {
        override fun baselineKb(): Long? = try {
            File("/proc/self/clear_refs").writeText("5")
            status("VmRSS:")
        } catch (e: Exception) {
            null
        }

        override fun peakKb(): Long? = status("VmHWM:")
    }

    private fun status(key: String): Long? = try {
        File("/proc/self/status").readLines()
            .firstOrNull { it.startsWith(key) }
            ?.split(Regex("\\s+"))?.getOrNull(1)?.toLongOrNull()
    } catch (e: Exception) {
        null
    }
}
