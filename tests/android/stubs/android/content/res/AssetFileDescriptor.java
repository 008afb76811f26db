// Stub for the app compile check (tests/android/test_app_compiles.py): declarations only, written
// from the Android SDK API reference, API level 26 (the app's minSdk) with the API-31 Build fields the
// app guards by SDK_INT. Upstream: AOSP platform/frameworks/base, tag android-16.0.0_r1 (API 36,
// compileSdk).
// Checked at API 26 against AOSP platform/prebuilts/sdk 26/public/api/android.txt (stored copy of
// msft-mirror-aosp/platform.prebuilts.sdk, commit 4aa299d591c4): public class implementing Closeable, getFileDescriptor(),
// getStartOffset(), getDeclaredLength(), close() throws IOException; upstream also implements Parcelable
// (omitted) and has no no-arg ctor (its ctors take a ParcelFileDescriptor), so the stub's ctor is private.
package android.content.res;
public class AssetFileDescriptor implements java.io.Closeable {
    private AssetFileDescriptor() {}
    public java.io.FileDescriptor getFileDescriptor() { return null; }
    public long getStartOffset() { return 0; }
    public long getDeclaredLength() { return 0; }
    public void close() throws java.io.IOException {}
}
