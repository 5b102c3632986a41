package io.prism.http.openai;

import com.fasterxml.jackson.databind.JsonNode;
import io.prism.http.ApiError;
import io.prism.http.ApiException;
import io.prism.runtime.structured.JsonSchemaCompiler;
import io.prism.runtime.structured.OutputConstraint;
import io.prism.runtime.structured.SchemaException;
import io.prism.runtime.structured.StructuredOutput;
import io.prism.runtime.structured.ToolCallFormat;
import io.prism.runtime.structured.ToolCallGrammar;

/**
 * The structured-output fields of a request body, checked on the HTTP node so that a bad schema or
 * tool is a 400 before the request travels:
 * <ul>
 *   <li>{@code response_format}: {@code {"type": "text"}} (free text), {@code {"type":
 *       "json_object"}}, or {@code {"type": "json_schema", "json_schema": {"name", "schema",
 *       "strict"}}} (see {@link JsonSchemaCompiler}); an unsupported keyword is a 400 with {@code
 *       param} {@code response_format.json_schema.schema} and the keyword in the message.
 *       Completions take it too (vLLM's extension);
 *   <li>{@code tools} (chat): each {@code {"type": "function", "function": {"name", "description",
 *       "parameters", "strict"}}}; {@code tool_choice}: {@code "auto"} (default with tools), {@code
 *       "none"} (tools dropped: not shown to the template, nothing parsed), {@code "required"} or
 *       {@code {"type": "function", "function": {"name"}}} (both enforced by constrained decoding
 *       in the model's tool-call format); {@code parallel_tool_calls} (default true) lets {@code
 *       "required"} make several calls.
 * </ul>
 * Stateless.
 */
final class StructuredRequests {
  private StructuredRequests() {}

  /**
   * What {@code body} asks for.
   *
   * @param structured the constraint (null for none)
   * @param dropTools {@code tool_choice: "none"}: do not pass the tools to the template
   * @param toolCalls parse the answer for tool calls
   */
  record Parsed(StructuredOutput structured, boolean dropTools, boolean toolCalls) {}

  static Parsed parse(JsonNode body, boolean chat) {
    OutputConstraint format = responseFormat(body);
    JsonNode tools = body.get("tools");
    boolean hasTools = chat && tools != null && tools.isArray() && !tools.isEmpty();
    JsonNode choice = body.get("tool_choice");
    if (!hasTools) {
      if (choice != null && !choice.isNull() && !(choice.isTextual() && (choice.asText().equals("none") || choice.asText().equals("auto")))) {
        throw bad("tool_choice " + choice + " needs tools", "tool_choice");
      }
      return new Parsed(format == null ? null : new StructuredOutput(format, null), false, false);
    }
    try {
      ToolCallGrammar.functions(tools.toString());
    } catch (IllegalArgumentException e) {
      String msg = e.getMessage();
      int close = msg.indexOf(']');
      String param = msg.startsWith("tools[") && close > 0 ? msg.substring(0, msg.indexOf(' ')) : "tools";
      throw bad(msg, param);
    }
    boolean parallel = optBoolean(body, "parallel_tool_calls", true);
    String mode;
    String name = null;
    if (choice == null || choice.isNull()) {
      mode = "auto";
    } else if (choice.isTextual() && (choice.asText().equals("auto") || choice.asText().equals("none") || choice.asText().equals("required"))) {
      mode = choice.asText();
    } else if (choice.isObject() && "function".equals(choice.path("type").asText()) && choice.path("function").path("name").isTextual()) {
      mode = "function";
      name = choice.path("function").path("name").asText();
    } else {
      throw bad("tool_choice must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}", "tool_choice");
    }
    if (mode.equals("none")) return new Parsed(format == null ? null : new StructuredOutput(format, null), true, false);
    if (mode.equals("auto")) return new Parsed(format == null ? null : new StructuredOutput(format, null), false, true);
    if (format != null) throw bad("response_format cannot be combined with tool_choice \"" + mode + "\"", "response_format");
    OutputConstraint calls = new OutputConstraint.ToolCalls(tools.toString(), name, parallel && name == null);
    try {
      calls.grammar(ToolCallFormat.HERMES); // the format does not change what is valid: check names and schemas now
    } catch (SchemaException e) {
      throw bad("a tool's parameters schema is not supported: " + e.getMessage(), "tools");
    } catch (IllegalArgumentException e) {
      throw bad(e.getMessage(), "tool_choice");
    }
    return new Parsed(new StructuredOutput(calls, null), false, true);
  }

  private static OutputConstraint responseFormat(JsonNode body) {
    JsonNode rf = body.get("response_format");
    if (rf == null || rf.isNull()) return null;
    if (!rf.isObject() || !rf.path("type").isTextual()) throw bad("response_format must be an object with a type", "response_format");
    switch (rf.get("type").asText()) {
      case "text":
        return null;
      case "json_object":
        return new OutputConstraint.JsonObject();
      case "json_schema": {
        JsonNode js = rf.get("json_schema");
        if (js == null || !js.isObject()) throw bad("response_format.json_schema must be an object with name and schema", "response_format.json_schema");
        JsonNode n = js.get("name");
        if (n != null && !n.isNull() && (!n.isTextual() || !n.asText().matches("[A-Za-z0-9_-]{1,64}"))) {
          throw bad("response_format.json_schema.name must be 1-64 letters, digits, _ or -", "response_format.json_schema.name");
        }
        JsonNode schema = js.get("schema");
        if (schema == null || !(schema.isObject() || schema.isBoolean())) {
          throw bad("response_format.json_schema.schema must be a JSON Schema object", "response_format.json_schema.schema");
        }
        JsonNode strict = js.get("strict");
        if (strict != null && !strict.isNull() && !strict.isBoolean()) throw bad("response_format.json_schema.strict must be a boolean", "response_format.json_schema.strict");
        OutputConstraint c = new OutputConstraint.JsonSchema(schema.toString(), strict != null && strict.asBoolean());
        try {
          c.grammar(null);
        } catch (SchemaException e) {
          throw bad(e.getMessage(), "response_format.json_schema.schema");
        }
        return c;
      }
      default:
        throw bad("response_format.type must be text, json_object or json_schema", "response_format.type");
    }
  }

  private static boolean optBoolean(JsonNode body, String field, boolean dflt) {
    JsonNode v = body.get(field);
    if (v == null || v.isNull()) return dflt;
    if (!v.isBoolean()) throw bad(field + " must be a boolean", field);
    return v.asBoolean();
  }

  private static ApiException bad(String message, String param) {
    return new ApiException(ApiError.invalid(message, param));
  }
}
