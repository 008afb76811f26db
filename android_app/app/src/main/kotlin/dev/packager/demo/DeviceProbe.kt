package dev.packager.demo

import android.os.Build
import dev.packager.core.DeviceInfo
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

    /** Peak resident set size of this process (VmHWM), in kB; null if the kernel does not say. */
    fun peakMemoryKb(): Long? = try {
        File("/proc/self/status").readLines()
            .firstOrNull { it.startsWith("VmHWM:") }
            ?.split(Regex("\\s+"))?.getOrNull(1)?.toLongOrNull()
    } catch (e: Exception) {
        null
    }
}
