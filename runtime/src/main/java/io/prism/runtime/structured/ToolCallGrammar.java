package io.prism.runtime.structured;

import io.prism.runtime.format.Json;
import io.prism.runtime.format.ModelFormatException;
import io.prism.runtime.structured.GrammarNode.Lit;
import io.prism.runtime.structured.GrammarNode.Obj;
import io.prism.runtime.structured.GrammarNode.Repeat;
import io.prism.runtime.structured.GrammarNode.Seq;
import io.prism.runtime.structured.GrammarNode.Union;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The grammar of an answer made only of tool calls, for {@code tool_choice} {@code "required"} or
 * a named function: each call is {@code {"name": <one of the functions>, "<arguments key>": <that
 * function's parameters schema>}} (the arguments key per {@link ToolCallFormat}), as one union
 * branch per function so the arguments follow the chosen function's schema.
 * <ul>
 *   <li>{@link ToolCallFormat#LLAMA3_JSON}: the call objects, separated by {@code "; "} when
 *       parallel;
 *   <li>{@link ToolCallFormat#HERMES}: each call in {@code <tool_call>\n...\n</tool_call>}, blocks
 *       separated by a newline when parallel.
 * </ul>
 * Parameter schemas are compiled by {@link JsonSchemaCompiler} (non-strict; a function's own
 * {@code strict: true} applies OpenAI's strict rules to it); {@code $ref}s inside one are relative
 * to that parameters schema. Stateless.
 */
public final class ToolCallGrammar {
  private ToolCallGrammar() {}

  /**
   * @throws IllegalArgumentException when {@code toolsJson} is not an array of function tools with
   *     names, or {@code functionName} is not among them
   * @throws SchemaException when a function's parameters schema is unsupported
   */
  public static Grammar of(String toolsJson, String functionName, boolean parallel, ToolCallFormat format) {
    List<Map<String, Object>> functions = functions(toolsJson);
    List<GrammarNode> calls = new ArrayList<>();
    for (Map<String, Object> f : functions) {
      String name = (String) f.get("name");
      if (functionName != null && !functionName.equals(name)) continue;
      Object params = f.getOrDefault("parameters", Map.of("type", "object", "properties", Map.of()));
      GrammarNode args;
      try {
        args = JsonSchemaCompiler.compile(params, Boolean.TRUE.equals(f.get("strict"))).root();
      } catch (SchemaException e) {
        throw new SchemaException(e.keyword(), "function " + name + " parameters " + e.path(), e.getMessage());
      }
      calls.add(new Obj(List.of("name", format.argumentsKey()), List.of(new Lit(List.of(JsonText.quote(name))), args), List.of(true, true), null));
    }
    if (calls.isEmpty()) throw new IllegalArgumentException("tool_choice names function '" + functionName + "', which is not in tools");
    GrammarNode call = calls.size() == 1 ? calls.get(0) : new Union(calls.toArray(new GrammarNode[0]));
    int max = parallel && functionName == null ? -1 : 1;
    GrammarNode answer = switch (format) {
      case LLAMA3_JSON -> new Repeat(call, new Lit(List.of("; ")), 1, max);
      case HERMES -> new Repeat(new Seq(List.of(new Lit(List.of("<tool_call>\n")), call, new Lit(List.of("\n</tool_call>")))), new Lit(List.of("\n")), 1, max);
    };
    return new Grammar(answer, "tools:" + format + ":" + functionName + ":" + parallel + ":" + toolsJson);
  }

  /**
   * The {@code function} objects of an OpenAI {@code tools} array.
   *
   * @throws IllegalArgumentException naming {@code tools[i]...} when an entry is not {@code {"type":
   *     "function", "function": {"name": ..., ...}}} or two functions share a name
   */
  @SuppressWarnings("unchecked")
  public static List<Map<String, Object>> functions(String toolsJson) {
    Object parsed;
    try {
      parsed = Json.parse(toolsJson);
    } catch (ModelFormatException e) {
      throw new IllegalArgumentException("tools is not valid JSON: " + e.getMessage());
    }
    if (!(parsed instanceof List<?> list)) throw new IllegalArgumentException("tools must be an array");
    List<Map<String, Object>> out = new ArrayList<>();
    List<String> names = new ArrayList<>();
    for (int i = 0; i < list.size(); i++) {
      if (!(list.get(i) instanceof Map<?, ?> t) || !"function".equals(t.get("type")) || !(t.get("function") instanceof Map<?, ?> f)) {
        throw new IllegalArgumentException("tools[" + i + "] must be {\"type\": \"function\", \"function\": {...}}");
      }
      if (!(f.get("name") instanceof String name) || name.isEmpty()) throw new IllegalArgumentException("tools[" + i + "].function.name is required");
      if (names.contains(name)) throw new IllegalArgumentException("tools[" + i + "].function.name '" + name + "' is used twice");
      names.add(name);
      out.add((Map<String, Object>) f);
    }
    return out;
  }
}
