package dev.packager.core

import com.google.gson.GsonBuilder
import com.google.gson.JsonArray
import com.google.gson.JsonElement
import com.google.gson.JsonObject
import com.google.gson.JsonParseException
import com.google.gson.JsonParser

/** A contract file (manifest, index, request) that does not say what the contract requires. */
class ContractException(message: String) : Exception(message)

/**
 * Reading JSON through Gson's tree model with field paths in every error, so a bad manifest
 * says which field is wrong. The tree model (not reflection) keeps Kotlin's null-safety honest
 * and needs no keep rules for R8.
 */
internal object Json {
    private val gson = GsonBuilder().serializeNulls().setPrettyPrinting().disableHtmlEscaping().create()

    fun parseObject(text: String, what: String): JsonObject {
        val element = try {
            JsonParser.parseString(text)
        } catch (e: JsonParseException) {
            throw ContractException("$what is not valid JSON (${e.message})")
        }
        if (element == null || !element.isJsonObject) throw ContractException("$what is not a JSON object")
        return element.asJsonObject
    }

    fun write(element: JsonElement): String = gson.toJson(element) + "\n"
}

/** A JSON object and the path it was found at, for error messages. */
internal class Fields(val obj: JsonObject, private val path: String) {
    private fun where(key: String) = if (path.isEmpty()) key else "$path/$key"

    fun has(key: String) = obj.has(key) && !obj.get(key).isJsonNull

    private fun required(key: String): JsonElement {
        val value = obj.get(key) ?: throw ContractException("${where(key)} is missing")
        if (value.isJsonNull) throw ContractException("${where(key)} is null")
        return value
    }

    fun string(key: String): String {
        val v = required(key)
        if (!v.isJsonPrimitive || !v.asJsonPrimitive.isString) throw ContractException("${where(key)} must be a string")
        return v.asString
    }

    fun stringOrNull(key: String): String? = if (has(key)) string(key) else null

    fun number(key: String): Double {
        val v = required(key)
        if (!v.isJsonPrimitive || !v.asJsonPrimitive.isNumber) throw ContractException("${where(key)} must be a number")
        return v.asDouble
    }

    fun long(key: String): Long {
        val d = number(key)
        if (d != Math.rint(d) || Math.abs(d) > 9.007199254740992E15) throw ContractException("${where(key)} must be an integer")
        return obj.get(key).asLong
    }

    fun int(key: String, min: Long = Int.MIN_VALUE.toLong(), max: Long = Int.MAX_VALUE.toLong()): Int {
        val v = long(key)
        if (v < min || v > max) throw ContractException("${where(key)} must be between $min and $max, got $v")
        return v.toInt()
    }

    fun intOrNull(key: String): Int? = if (has(key)) int(key) else null

    fun boolean(key: String, default: Boolean): Boolean {
        if (!has(key)) return default
        val v = obj.get(key)
        if (!v.isJsonPrimitive || !v.asJsonPrimitive.isBoolean) throw ContractException("${where(key)} must be true or false")
        return v.asBoolean
    }

    fun obj(key: String): Fields {
        val v = required(key)
        if (!v.isJsonObject) throw ContractException("${where(key)} must be an object")
        return Fields(v.asJsonObject, where(key))
    }

    fun objOrNull(key: String): Fields? = if (has(key)) obj(key) else null

    private fun array(key: String): JsonArray {
        val v = required(key)
        if (!v.isJsonArray) throw ContractException("${where(key)} must be an array")
        return v.asJsonArray
    }

    fun objects(key: String): List<Fields> = array(key).mapIndexed { i, e ->
        if (!e.isJsonObject) throw ContractException("${where(key)}/$i must be an object")
        Fields(e.asJsonObject, "${where(key)}/$i")
    }

    fun strings(key: String): List<String> = array(key).mapIndexed { i, e ->
        if (!e.isJsonPrimitive || !e.asJsonPrimitive.isString) throw ContractException("${where(key)}/$i must be a string")
        e.asString
    }

    fun numbers(key: String): List<Double> = array(key).mapIndexed { i, e ->
        if (!e.isJsonPrimitive || !e.asJsonPrimitive.isNumber) throw ContractException("${where(key)}/$i must be a number")
        e.asDouble
    }

    fun ints(key: String): List<Int> = numbers(key).mapIndexed { i, d ->
        if (d != Math.rint(d) || Math.abs(d) > Int.MAX_VALUE) throw ContractException("${where(key)}/$i must be an integer")
        d.toInt()
    }

    fun fail(key: String, problem: String): Nothing = throw ContractException("${where(key)} $problem")
}
