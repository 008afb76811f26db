// Stub for the app compile check (tests/android/test_app_compiles.py): declarations only, written
// from the Android SDK API reference, API level 26 (the app's minSdk) with the API-31 Build fields the
// app guards by SDK_INT. Upstream: AOSP platform/frameworks/base, tag android-16.0.0_r1 (API 36,
// compileSdk).
// Checked at API 26 against AOSP platform/prebuilts/sdk 26/public/api/android.txt (stored copy of
// msft-mirror-aosp/platform.prebuilts.sdk, commit 4aa299d591c4): public class with a public ctor, static final String MANUFACTURER,
// MODEL, HARDWARE, ID, String[] SUPPORTED_ABIS; static class VERSION with int SDK_INT, String RELEASE.
// SOC_MANUFACTURER and SOC_MODEL are API 31 (not in the API 26 file; the app reads them only when SDK_INT >= 31).
package android.os;
public class Build {
    public static final String MANUFACTURER = null;
    public static final String MODEL = null;
    public static final String HARDWARE = null;
    public static final String ID = null;
    public static final String[] SUPPORTED_ABIS = null;
    /** API 31. */
    public static final String SOC_MANUFACTURER = null;
    /** API 31. */
    public static final String SOC_MODEL = null;
    public static class VERSION {
        public static final int SDK_INT = 0;
        public static final String RELEASE = null;
    }
}
