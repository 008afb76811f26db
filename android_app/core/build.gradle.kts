// Pure Kotlin/JVM: no Android imports, so the same code is unit-tested on any JVM
// (and by the Python test suite with kotlinc, see tests/android/).
plugins {
    alias(libs.plugins.kotlin.jvm)
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    implementation(libs.gson)
    testImplementation(libs.junit)
}
