// Stub for the app compile check (tests/android/test_app_compiles.py): declarations only, written
// from the Android SDK API reference, API level 26 (the app's minSdk) with the API-31 Build fields the
// app guards by SDK_INT. Upstream: AOSP platform/frameworks/base, tag android-16.0.0_r1 (API 36,
// compileSdk).
// Checked at API 26 against AOSP platform/prebuilts/sdk 26/public/api/android.txt (stored copy of
// msft-mirror-aosp/platform.prebuilts.sdk, commit 4aa299d591c4): final class, getWidth(), getHeight(), getPixels(int[], int, int, int,
// int, int, int), static createBitmap(int[], int, int, Bitmap.Config), enum Config { ALPHA_8, ARGB_4444,
// ARGB_8888, HARDWARE, RGBA_F16, RGB_565 }; at API 26 getWidth/getHeight are not final (the stub had them
// final: fixed) and there is no public ctor (the stub's is private); upstream also implements Parcelable.
package android.graphics;
public final class Bitmap {
    private Bitmap() {}
    public int getWidth() { return 0; }
    public int getHeight() { return 0; }
    public void getPixels(int[] pixels, int offset, int stride, int x, int y, int width, int height) {}
    public static Bitmap createBitmap(int[] colors, int width, int height, Bitmap.Config config) { return null; }
    public enum Config { ALPHA_8, RGB_565, ARGB_4444, ARGB_8888, RGBA_F16, HARDWARE }
}
