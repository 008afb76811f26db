// Stand-in for the BuildConfig class the Android Gradle plugin generates (buildFeatures.buildConfig =
// true in app/build.gradle.kts): the fields AGP writes for this app. Not an upstream API.
package dev.packager.demo;
public final class BuildConfig {
    public static final boolean DEBUG = true;
    public static final String APPLICATION_ID = "dev.packager.demo";
    public static final String BUILD_TYPE = "debug";
    public static final int VERSION_CODE = 1;
    public static final String VERSION_NAME = "0.1.0";
}
