// Stub for the app compile check (tests/android/test_app_compiles.py): declarations only, written
// from the Android SDK API reference, API level 26 (the app's minSdk) with the API-31 Build fields the
// app guards by SDK_INT. Upstream: AOSP platform/frameworks/base, tag android-16.0.0_r1 (API 36,
// compileSdk).
// Checked at API 26 against AOSP platform/prebuilts/sdk 26/public/api/android.txt (stored copy of
// msft-mirror-aosp/platform.prebuilts.sdk, commit 4aa299d591c4): public final class, static int i(String, String), w(String, String),
// e(String, String), e(String, String, Throwable); no public ctor upstream (the stub's is private).
package android.util;
public final class Log {
    private Log() {}
    public static int i(String tag, String msg) { return 0; }
    public static int w(String tag, String msg) { return 0; }
    public static int e(String tag, String msg) { return 0; }
    public static int e(String tag, String msg, Throwable tr) { return 0; }
}
