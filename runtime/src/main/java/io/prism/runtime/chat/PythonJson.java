package io.prism.runtime.chat;

import java.util.Collection;
import java.util.Map;

/**
 * JSON text as Python's {@code json.dumps(value, ensure_ascii=False)} writes it, which is what the
 * {@code tojson} filter of Hugging Face's chat-template environment produces: separators {@code ", "}
 * and {@code ": "} (or {@code ","} and {@code ": "} with an indent, one item a line), keys in
 * insertion order, non-ASCII characters as themselves, control characters and {@code "} {@code \}
 * escaped as {@code \n}, {@code \"}, {@code \u001f}; integral numbers without a fraction. Stateless.
 */
final class PythonJson {
  private PythonJson() {}

  /**
   * @param value maps, collections, arrays of objects, strings, numbers, booleans, null (other
   *     objects are written as their {@code toString()} as a string)
   * @param indent spaces per level, or -1 for one line
   */
  static String dumps(Object value, int indent) {
    StringBuilder sb = new StringBuilder();
    write(sb, value, indent, 0);
    return sb.toString();
  }

  private static void write(StringBuilder sb, Object v, int indent, int depth) {
    if (v == null) {
      sb.append("null");
    } else if (v instanceof Boolean b) {
      sb.append(b ? "true" : "false");
    } else if (v instanceof Double || v instanceof Float) {
      double d = ((Number) v).doubleValue();
      if (Double.isNaN(d)) sb.append("NaN");
      else if (Double.isInfinite(d)) sb.append(d > 0 ? "Infinity" : "-Infinity");
      else if (d == Math.rint(d) && Math.abs(d) < 1e16) sb.append((long) d).append(".0");
      else sb.append(d);
    } else if (v instanceof Number n) {
      sb.append(n);
    } else if (v instanceof Map<?, ?> m) {
      if (m.isEmpty()) {
        sb.append("{}");
        return;
      }
      sb.append('{');
      boolean first = true;
      for (Map.Entry<?, ?> e : m.entrySet()) {
        separator(sb, first, indent, depth + 1);
        first = false;
        string(sb, String.valueOf(e.getKey()));
        sb.append(": ");
        write(sb, e.getValue(), indent, depth + 1);
      }
      close(sb, indent, depth);
      sb.append('}');
    } else if (v instanceof Collection<?> || v instanceof Object[]) {
      Collection<?> c = v instanceof Collection<?> col ? col : java.util.Arrays.asList((Object[]) v);
      if (c.isEmpty()) {
        sb.append("[]");
        return;
      }
      sb.append('[');
      boolean first = true;
      for (Object o : c) {
        separator(sb, first, indent, depth + 1);
        first = false;
        write(sb, o, indent, depth + 1);
      }
      close(sb, indent, depth);
      sb.append(']');
    } else {
      string(sb, v.toString());
    }
  }

  private static void separator(StringBuilder sb, boolean first, int indent, int depth) {
    if (indent < 0) {
      if (!first) sb.append(", ");
      return;
    }
    if (!first) sb.append(',');
    sb.append('\n').append(" ".repeat(indent * depth));
  }

  private static void close(StringBuilder sb, int indent, int depth) {
    if (indent >= 0) sb.append('\n').append(" ".repeat(indent * depth));
  }

  private static void string(StringBuilder sb, String s) {
    sb.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        case '\b' -> sb.append("\\b");
        case '\f' -> sb.append("\\f");
        default -> {
          if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
          else sb.append(c);
        }
      }
    }
    sb.append('"');
  }
}
