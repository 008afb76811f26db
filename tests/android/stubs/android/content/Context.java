// Stub for the app compile check (tests/android/test_app_compiles.py): declarations only, written
// from the Android SDK API reference, API level 26 (the app's minSdk) with the API-31 Build fields the
// app guards by SDK_INT. Upstream: AOSP platform/frameworks/base, tag android-16.0.0_r1 (API 36, compileSdk).
// Checked at API 26 against AOSP platform/prebuilts/sdk 26/public/api/android.txt (stored copy of
// msft-mirror-aosp/platform.prebuilts.sdk, commit 4aa299d591c4): getApplicationContext(), getApplicationInfo(), getAssets(), getCacheDir(), getDataDir() (abstract, as here).
package android.content;
public abstract class Context {
    public abstract android.content.res.AssetManager getAssets();
    public abstract Context getApplicationContext();
    public abstract java.io.File getDataDir();
    public abstract java.io.File getCacheDir();
    public abstract android.content.pm.ApplicationInfo getApplicationInfo();
}
