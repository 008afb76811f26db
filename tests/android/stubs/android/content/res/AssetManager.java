// Stub for the app compile check (tests/android/test_app_compiles.py): declarations only, written
// from the Android SDK API reference, API level 26 (the app's minSdk) with the API-31 Build fields the
// app guards by SDK_INT. Upstream: AOSP platform/frameworks/base, tag android-16.0.0_r1 (API 36,
// compileSdk).
// Checked at API 26 against AOSP platform/prebuilts/sdk 26/public/api/android.txt (stored copy of
// msft-mirror-aosp/platform.prebuilts.sdk, commit 4aa299d591c4): final class implementing AutoCloseable, open(String), list(String),
// openFd(String) (each throws IOException), close(); at API 26 open/list/openFd are not final (the stub
// had them final: fixed) and there is no public ctor (the stub's is private).
package android.content.res;
public final class AssetManager implements AutoCloseable {
    private AssetManager() {}
    public java.io.InputStream open(String fileName) throws java.io.IOException { return null; }
    public String[] list(String path) throws java.io.IOException { return null; }
    public AssetFileDescriptor openFd(String fileName) throws java.io.IOException { return null; }
    public void close() {}
}
