// Stub for the app compile check (tests/android/test_app_compiles.py): declarations only, written
// from the AndroidX API reference for the Compose BOM 2026.04.01 (compose-runtime, compose-ui,
// compose-foundation, material3); upstream androidx/androidx. Not checked against that source in
// this repository (see README, app section). Parameters the app does not pass are left out.
//
// @Composable is a plain annotation here: the Compose compiler plugin (which the Gradle build
// applies) needs the real compose-runtime, which this repository does not have. So kotlinc checks
// names, types and overloads, but not the plugin's rules (e.g. composables called only from
// composable scope).
@file:Suppress("unused", "UNUSED_PARAMETER")
@file:JvmName("ComposeStubs")
package androidx.compose.runtime

import kotlin.reflect.KProperty

@Target(AnnotationTarget.FUNCTION, AnnotationTarget.TYPE, AnnotationTarget.TYPE_PARAMETER, AnnotationTarget.PROPERTY_GETTER)
annotation class Composable

interface State<out T> { val value: T }

operator fun <T> State<T>.getValue(thisObj: Any?, property: KProperty<*>): T = value

@Composable
fun <T> kotlinx.coroutines.flow.StateFlow<T>.collectAsState(context: kotlin.coroutines.CoroutineContext = kotlin.coroutines.EmptyCoroutineContext): State<T> = throw NotImplementedError()
