package io.prism.runtime.structured;

import io.prism.runtime.format.Json;
import io.prism.runtime.format.ModelFormatException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Reads the tool calls out of a model's answer, per {@link ToolCallFormat} (the rules of vLLM's
 * {@code hermes} and {@code llama3_json} parsers, reimplemented): {@link ToolCallFormat#HERMES}
 * takes every {@code <tool_call>{json}</tool_call>} block, the text before the first being the
 * content; {@link ToolCallFormat#LLAMA3_JSON} takes an answer that is (after an optional {@code
 * <|python_tag|>}) one JSON object or several separated by {@code ;}, each {@code {"name", "parameters"
 * (or "arguments")}}. An answer that does not read as calls is plain content. Stateless.
 */
public final class ToolCallParser {
  private ToolCallParser() {}

  /** One call: the function's name and its arguments as compact JSON text. */
  public record Call(String name, String argumentsJson) {}

  /** The content left (null when none) and the calls found (empty: the answer is plain content). */
  public record Parsed(String content, List<Call> calls) {}

  /** Parses {@code text} written in {@code format}. */
  public static Parsed parse(String text, ToolCallFormat format) {
    return format == ToolCallFormat.HERMES ? hermes(text) : llama(text);
  }

  private static Parsed hermes(String text) {
    int first = text.indexOf("<tool_call>");
    if (first < 0) return new Parsed(text, List.of());
    List<Call> calls = new ArrayList<>();
    int at = first;
    while (at >= 0) {
      int end = text.indexOf("</tool_call>", at);
      String body = text.substring(at + "<tool_call>".length(), end < 0 ? text.length() : end).trim();
      Call c = call(body, "arguments");
      if (c == null) return new Parsed(text, List.of());
      calls.add(c);
      if (end < 0) break;
      at = text.indexOf("<tool_call>", end);
    }
    String content = text.substring(0, first).trim();
    return new Parsed(content.isEmpty() ? null : content, calls);
  }

  private static Parsed llama(String text) {
    String t = text.strip();
    if (t.startsWith("<|python_tag|>")) t = t.substring("<|python_tag|>".length()).strip();
    if (!t.startsWith("{")) return new Parsed(text, List.of());
    List<Call> calls = new ArrayList<>();
    Call whole = call(t, "parameters");
    if (whole != null) return new Parsed(null, List.of(whole));
    for (String part : t.split("\\}\\s*;\\s*\\{")) {
      String p = part;
      if (!p.startsWith("{")) p = "{" + p;
      if (!p.endsWith("}")) p = p + "}";
      Call c = call(p, "parameters");
      if (c == null) return new Parsed(text, List.of());
      calls.add(c);
    }
    return new Parsed(null, calls);
  }

  private static Call call(String json, String argumentsKey) {
    Object o;
    try {
      o = Json.parse(json);
    } catch (ModelFormatException e) {
      return null;
    }
    if (!(o instanceof Map<?, ?> m) || !(m.get("name") instanceof String name)) return null;
    Object args = m.containsKey(argumentsKey) ? m.get(argumentsKey) : m.containsKey("arguments") ? m.get("arguments") : m.get("parameters");
    if (args == null) args = Map.of();
    if (args instanceof String s) return new Call(name, s); // already a JSON string
    return new Call(name, JsonText.of(args));
  }
}
