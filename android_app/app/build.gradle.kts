import com.android.build.api.artifact.ScopedArtifact
import com.android.build.api.variant.ScopedArtifacts
import java.util.jar.JarEntry
import java.util.jar.JarFile
import java.util.jar.JarOutputStream

plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.compose)
}

android {
    namespace = "dev.packager.demo"
    compileSdk = 36

    defaultConfig {
        applicationId = "dev.packager.demo"
        // 26: core uses java.time and java.nio.file (API 26). Desugaring would cover java.time
        // but java.nio.file only with the partial desugar_jdk_libs_nio, so minSdk is raised instead.
        minSdk = 26
        targetSdk = 36
        versionCode = 1
        versionName = "0.1.0"
    }

    buildTypes {
        debug {
            // run-as (how the device kit copies requests in and results out) needs a debuggable app.
            isDebuggable = true
        }
        release {
            isMinifyEnabled = false
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"), "proguard-rules.pro")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    buildFeatures {
        compose = true
        buildConfig = true
    }

    // Models stay stored (uncompressed) in the APK so LiteRT can memory-map them straight from the
    // APK. `packager bundle` checks this line is here (and adds it when it is not).
    androidResources {
        noCompress += "tflite"
    }

    // Robolectric reads the merged manifest and assets (src/test: the screen's states and
    // BenchmarkActivity on the JVM, with a fake runtime; Robolectric cannot load the runtimes' .so files).
    testOptions {
        unitTests.isIncludeAndroidResources = true
        // What the tests compare the app's answers with, written by the Python side for the bundles
        // installed in the assets (android_app/README.md; the CI workflow passes -PpackagerExpected).
        unitTests.all { test ->
            providers.gradleProperty("packagerExpected").orNull?.let { test.systemProperty("packager.expected", it) }
        }
    }
}

dependencies {
    implementation(project(":core"))
    // Two runtimes (android_app/README.md): LiteRT's CompiledModel for xnnpack/gpu/npu, TFLite's
    // Interpreter for cpu and nnapi (NnApiDelegate). Their native libraries have distinct names
    // (liblitert_jni.so + libLiteRt.so, libtensorflowlite_jni.so); litert's copies of the
    // org.tensorflow.lite classes are removed below so TFLite's are the only ones.
    implementation(libs.litert)
    implementation(libs.tensorflow.lite)
    implementation(libs.androidx.core.ktx)
    implementation(libs.androidx.activity.compose)
    implementation(libs.androidx.lifecycle.runtime.ktx)
    implementation(libs.androidx.lifecycle.viewmodel.compose)
    implementation(platform(libs.androidx.compose.bom))
    implementation(libs.androidx.compose.ui)
    implementation(libs.androidx.compose.material3)
    implementation(libs.androidx.compose.ui.tooling.preview)
    implementation(libs.kotlinx.coroutines.android)
    debugImplementation(libs.androidx.compose.ui.tooling)
    testImplementation(libs.junit)
    testImplementation(libs.robolectric)
}

/**
 * litert 2.2.0 carries its own copies of TFLite's org.tensorflow.lite classes (Interpreter,
 * InterpreterApi, Tensor, DataType, TensorFlowLite, ...: LiteRT v2.2.0 litert/kotlin/BUILD,
 * TFLITE_JAVA_SRCS_*), built without delegates ("To drop the Delegate support, the v2 package
 * excludes ... Delegate.java ... nnapi"). TFLite's artifacts have the same class names, with
 * delegates. This task writes every class of the app and its dependencies into one jar, leaving
 * out the org.tensorflow.lite entries of any jar that has org.tensorflow.lite classes but neither
 * Delegate nor the nnapi package (litert's copies); it fails if a class is still duplicated or if
 * either runtime's entry class is missing. AGP's own duplicate-class check runs on the
 * dependencies before this step, so it is replaced by this one.
 */
abstract class StripLiteRtTfliteCopies : DefaultTask() {
    @get:InputFiles
    abstract val allJars: ListProperty<RegularFile>

    @get:InputFiles
    abstract val allDirectories: ListProperty<Directory>

    @get:OutputFile
    abstract val output: RegularFileProperty

    @TaskAction
    fun strip() {
        val written = HashMap<String, String>()
        val duplicates = ArrayList<String>()
        JarOutputStream(output.get().asFile.outputStream().buffered()).use { out ->
            fun add(name: String, from: String, bytes: () -> ByteArray) {
                if (name.endsWith("/")) return
                val first = written.putIfAbsent(name, from)
                if (first != null) {
                    if (name.endsWith(".class")) duplicates += "$name ($first, $from)"
                    return
                }
                out.putNextEntry(JarEntry(name))
                out.write(bytes())
                out.closeEntry()
            }
            for (jar in allJars.get().map { it.asFile }) {
                JarFile(jar).use { file ->
                    val names = file.entries().asSequence().map { it.name }.toList()
                    val tflite = names.filter { it.startsWith("org/tensorflow/lite/") && it.endsWith(".class") }
                    val liteRtCopy = tflite.isNotEmpty() &&
                        "org/tensorflow/lite/Delegate.class" !in names && names.none { it.startsWith("org/tensorflow/lite/nnapi/") }
                    if (liteRtCopy) logger.lifecycle("left out ${tflite.size} org.tensorflow.lite classes of LiteRT's copy in ${jar.name}")
                    for (entry in file.entries()) {
                        if (liteRtCopy && entry.name.startsWith("org/tensorflow/lite/")) continue
                        add(entry.name, jar.path) { file.getInputStream(entry).use { it.readBytes() } }
                    }
                }
            }
            for (dir in allDirectories.get().map { it.asFile }) {
                dir.walk().filter { it.isFile }.forEach { f ->
                    add(f.relativeTo(dir).invariantSeparatorsPath, dir.path) { f.readBytes() }
                }
            }
        }
        if (duplicates.isNotEmpty()) throw GradleException("duplicate classes: ${duplicates.take(5).joinToString("; ")}")
        for (needed in listOf("org/tensorflow/lite/Interpreter.class", "org/tensorflow/lite/nnapi/NnApiDelegate.class",
                "com/google/ai/edge/litert/CompiledModel.class")) {
            if (needed !in written) throw GradleException("$needed is missing: the app needs both LiteRT and TFLite")
        }
    }
}

androidComponents {
    onVariants { variant ->
        val strip = tasks.register<StripLiteRtTfliteCopies>("${variant.name}StripLiteRtTfliteCopies")
        variant.artifacts.forScope(ScopedArtifacts.Scope.ALL)
            .use(strip)
            .toTransform(ScopedArtifact.CLASSES, StripLiteRtTfliteCopies::allJars, StripLiteRtTfliteCopies::allDirectories, StripLiteRtTfliteCopies::output)
    }
}

// Replaced by StripLiteRtTfliteCopies's own check, which knows litert's copies (see above).
tasks.configureEach {
    if (name.startsWith("check") && name.endsWith("DuplicateClasses")) enabled = false
}
