package io.prism.runtime.structured;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A small JSON Schema validator written independently of {@link JsonSchemaCompiler}, to check
 * constrained outputs in tests and tools (the keywords {@link JsonSchemaCompiler}
 * supports, with JSON Schema's own semantics: {@code oneOf} means exactly one, additional properties
 * are allowed unless {@code additionalProperties} says otherwise, property order is free). Works on
 * {@link io.prism.runtime.format.Json#parse} values. Returns the list of violations (empty: valid).
 * Stateless per call; any thread.
 */
public final class SchemaValidator {
  private final Object root;
  private final List<String> errors = new ArrayList<>();

  private SchemaValidator(Object root) {
    this.root = root;
  }

  /** Violations of {@code value} against {@code schema}; empty when valid. */
  public static List<String> validate(Object value, Object schema) {
    SchemaValidator v = new SchemaValidator(schema);
    v.check(value, schema, "$");
    return v.errors;
  }

  private boolean valid(Object value, Object schema) {
    SchemaValidator v = new SchemaValidator(root);
    v.check(value, schema, "$");
    return v.errors.isEmpty();
  }

  @SuppressWarnings("unchecked")
  private void check(Object value, Object schema, String at) {
    if (Boolean.TRUE.equals(schema)) return;
    if (Boolean.FALSE.equals(schema)) {
      errors.add(at + ": schema false");
      return;
    }
    Map<String, Object> s = (Map<String, Object>) schema;
    if (s.containsKey("$ref")) {
      Object target = root;
      String p = (String) s.get("$ref");
      if (p.length() > 1) for (String part : p.substring(2).split("/")) target = ((Map<String, Object>) target).get(part.replace("~1", "/").replace("~0", "~"));
      check(value, target, at);
      return;
    }
    if (s.containsKey("anyOf")) {
      long n = ((List<Object>) s.get("anyOf")).stream().filter(x -> valid(value, x)).count();
      if (n == 0) errors.add(at + ": matches no anyOf branch");
    }
    if (s.containsKey("oneOf")) {
      long n = ((List<Object>) s.get("oneOf")).stream().filter(x -> valid(value, x)).count();
      if (n != 1) errors.add(at + ": matches " + n + " oneOf branches");
    }
    if (s.containsKey("const") && !jsonEquals(s.get("const"), value)) errors.add(at + ": not the const");
    if (s.containsKey("enum") && ((List<Object>) s.get("enum")).stream().noneMatch(x -> jsonEquals(x, value))) errors.add(at + ": not in enum");
    Object t = s.get("type");
    if (t != null) {
      List<Object> types = t instanceof List ? (List<Object>) t : List.of(t);
      if (types.stream().noneMatch(x -> hasType(value, (String) x))) {
        errors.add(at + ": " + value + " is not of type " + types);
        return;
      }
    }
    if (value instanceof Map<?, ?> m) {
      Map<String, Object> props = (Map<String, Object>) s.getOrDefault("properties", Map.of());
      for (Object r : (List<Object>) s.getOrDefault("required", List.of())) if (!m.containsKey(r)) errors.add(at + ": missing required " + r);
      for (Map.Entry<?, ?> e : m.entrySet()) {
        String k = (String) e.getKey();
        if (props.containsKey(k)) check(e.getValue(), props.get(k), at + "." + k);
        else if (s.containsKey("additionalProperties")) check(e.getValue(), s.get("additionalProperties"), at + "." + k);
      }
    }
    if (value instanceof List<?> l) {
      if (s.containsKey("minItems") && l.size() < ((Number) s.get("minItems")).intValue()) errors.add(at + ": fewer than minItems");
      if (s.containsKey("maxItems") && l.size() > ((Number) s.get("maxItems")).intValue()) errors.add(at + ": more than maxItems");
      if (s.containsKey("items")) for (int i = 0; i < l.size(); i++) check(l.get(i), s.get("items"), at + "[" + i + "]");
    }
    if (value instanceof String str) {
      int n = str.codePointCount(0, str.length());
      if (s.containsKey("minLength") && n < ((Number) s.get("minLength")).intValue()) errors.add(at + ": shorter than minLength");
      if (s.containsKey("maxLength") && n > ((Number) s.get("maxLength")).intValue()) errors.add(at + ": longer than maxLength");
    }
  }

  private static boolean hasType(Object v, String t) {
    return switch (t) {
      case "object" -> v instanceof Map;
      case "array" -> v instanceof List;
      case "string" -> v instanceof String;
      case "number" -> v instanceof Long || v instanceof Double;
      case "integer" -> v instanceof Long || (v instanceof Double d && d == Math.rint(d));
      case "boolean" -> v instanceof Boolean;
      case "null" -> v == null;
      default -> false;
    };
  }

  private static boolean jsonEquals(Object a, Object b) {
    if (a instanceof Number x && b instanceof Number y) return x.doubleValue() == y.doubleValue();
    return java.util.Objects.equals(a, b);
  }
}
