package io.prism.runtime.structured;

import io.prism.runtime.format.Json;
import io.prism.runtime.format.ModelFormatException;
import io.prism.runtime.structured.GrammarNode.Arr;
import io.prism.runtime.structured.GrammarNode.Lit;
import io.prism.runtime.structured.GrammarNode.Num;
import io.prism.runtime.structured.GrammarNode.Obj;
import io.prism.runtime.structured.GrammarNode.Ref;
import io.prism.runtime.structured.GrammarNode.Str;
import io.prism.runtime.structured.GrammarNode.Union;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * JSON Schema (a subset of draft 2020-12, the keywords OpenAI's structured outputs use) to a {@link
 * Grammar} whose language is exactly the JSON texts valid for the schema, under {@link Frames}'
 * lexical policy.
 *
 * <p>Supported: {@code type} (a name or a list), {@code properties}, {@code required}, {@code
 * additionalProperties} ({@code false}, {@code true} or a schema), {@code items} (a schema or
 * {@code true}), {@code minItems}/{@code maxItems}, {@code minLength}/{@code maxLength}, {@code
 * enum}, {@code const}, {@code anyOf}/{@code oneOf} (alternation), {@code $ref} to {@code #}, {@code
 * #/$defs/...} or {@code #/definitions/...} (JSON pointers into the document; recursion allowed when
 * it consumes input). Annotations are accepted and have no effect: {@code title}, {@code
 * description}, {@code $schema}, {@code $id}, {@code $comment}, {@code default}, {@code examples},
 * {@code deprecated}, {@code readOnly}, {@code writeOnly}, and {@code format} (an annotation by
 * default in 2020-12). Any other keyword is refused with a {@link SchemaException} naming it:
 * {@code pattern} (no regular expressions), numeric ranges, {@code allOf}, {@code not}, {@code
 * prefixItems}, {@code minProperties} and the rest.
 *
 * <p>Generation choices (each keeps the output valid): declared properties come in declaration
 * order, each at most once; when {@code properties} is given and {@code additionalProperties} is
 * absent no other key is generated (an object without {@code properties} takes any keys); keys of
 * additional properties have no escapes and differ from every declared name; {@code oneOf} is
 * generated like {@code anyOf}, so branches that overlap can yield a text matching several; a type
 * missing from a subschema is inferred from its keywords (object, array or string), else any.
 *
 * <p><b>{@code strict}</b> (OpenAI's structured outputs): when true the schema must also follow
 * OpenAI's strict rules: the root is an object ({@code "type": "object"}), and every object sets
 * {@code additionalProperties: false} and lists all its properties in {@code required}; a schema
 * that breaks them is refused naming the keyword, as OpenAI does. When false the schema is still
 * enforced by constrained decoding (OpenAI would only follow it best-effort; vLLM enforces it too).
 * Stateless; any thread.
 */
public final class JsonSchemaCompiler {
  private static final Set<String> ANNOTATIONS = Set.of("title", "description", "$schema", "$id", "$comment", "default", "examples",
      "deprecated", "readOnly", "writeOnly", "format");
  private static final Set<String> SUPPORTED = Set.of("type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems",
      "minLength", "maxLength", "enum", "const", "anyOf", "oneOf", "$ref", "$defs", "definitions");
  private static final Set<String> TYPES = Set.of("object", "array", "string", "number", "integer", "boolean", "null");

  private final Object document;
  private final boolean strict;
  private final Map<String, Ref> refs = new HashMap<>();

  private JsonSchemaCompiler(Object document, boolean strict) {
    this.document = document;
    this.strict = strict;
  }

  /**
   * Compiles {@code schemaJson}.
   *
   * @param strict apply OpenAI's strict-mode rules (see the class comment)
   * @throws SchemaException naming the keyword when the schema is not valid JSON, uses a keyword
   *     outside the subset, has a keyword of the wrong shape, or admits no value
   */
  public static Grammar compile(String schemaJson, boolean strict) {
    Object doc;
    try {
      doc = Json.parse(schemaJson);
    } catch (ModelFormatException e) {
      throw new SchemaException("", "#", "the schema is not valid JSON: " + e.getMessage());
    }
    return compile(doc, strict);
  }

  /** Compiles an already parsed schema ({@link Json#parse}'s values). @throws SchemaException as {@link #compile(String, boolean)} */
  public static Grammar compile(Object schema, boolean strict) {
    if (strict && !(schema instanceof Map<?, ?> m && "object".equals(m.get("type")))) {
      throw new SchemaException("type", "#", "with strict, the root schema must be {\"type\": \"object\", ...}");
    }
    JsonSchemaCompiler c = new JsonSchemaCompiler(schema, strict);
    GrammarNode root = c.node(schema, "#");
    for (Ref r : c.refs.values()) LeftRecursion.check(r);
    LeftRecursion.check(root);
    return new Grammar(root, (strict ? "strict:" : "schema:") + JsonText.of(schema));
  }

  private GrammarNode node(Object schema, String path) {
    if (Boolean.TRUE.equals(schema)) return Grammar.any();
    if (Boolean.FALSE.equals(schema)) throw new SchemaException("", path, "the schema false admits no value");
    if (!(schema instanceof Map<?, ?> raw)) throw new SchemaException("", path, "a schema must be an object or a boolean");
    @SuppressWarnings("unchecked")
    Map<String, Object> m = (Map<String, Object>) raw;
    for (String k : m.keySet()) {
      if (!SUPPORTED.contains(k) && !ANNOTATIONS.contains(k)) {
        throw new SchemaException(k, path, "JSON Schema keyword '" + k + "' is not supported; supported: " + SUPPORTED + " and the annotations "
            + ANNOTATIONS);
      }
    }
    if (m.containsKey("$ref")) {
      onlyWith(m, path, "$ref", Set.of("$defs", "definitions"));
      return ref(m.get("$ref"), path);
    }
    for (String alt : List.of("anyOf", "oneOf")) {
      if (!m.containsKey(alt)) continue;
      onlyWith(m, path, alt, Set.of("$defs", "definitions"));
      if (!(m.get(alt) instanceof List<?> l) || l.isEmpty()) throw new SchemaException(alt, path, alt + " must be a non-empty array of schemas");
      GrammarNode[] options = new GrammarNode[l.size()];
      for (int i = 0; i < l.size(); i++) options[i] = node(l.get(i), path + "/" + alt + "/" + i);
      return new Union(options);
    }
    List<String> types = types(m, path);
    if (m.containsKey("enum") || m.containsKey("const")) return literals(m, path, types);
    List<GrammarNode> options = new ArrayList<>();
    for (String t : types) {
      switch (t) {
        case "object" -> options.add(object(m, path));
        case "array" -> options.add(array(m, path));
        case "string" -> options.add(string(m, path));
        case "number" -> options.add(new Num(false));
        case "integer" -> options.add(new Num(true));
        case "boolean" -> options.add(new Lit(List.of("true", "false")));
        default -> options.add(new Lit(List.of("null")));
      }
    }
    return options.size() == 1 ? options.get(0) : new Union(options.toArray(new GrammarNode[0]));
  }

  private static void onlyWith(Map<String, Object> m, String path, String keyword, Set<String> allowed) {
    for (String k : m.keySet()) {
      if (!k.equals(keyword) && !ANNOTATIONS.contains(k) && !allowed.contains(k)) {
        throw new SchemaException(k, path, "'" + k + "' beside '" + keyword + "' is not supported; move it into the referenced or alternative schemas");
      }
    }
  }

  private List<String> types(Map<String, Object> m, String path) {
    Object t = m.get("type");
    if (t == null) {
      if (m.containsKey("properties") || m.containsKey("required") || m.containsKey("additionalProperties")) return List.of("object");
      if (m.containsKey("items") || m.containsKey("minItems") || m.containsKey("maxItems")) return List.of("array");
      if (m.containsKey("minLength") || m.containsKey("maxLength")) return List.of("string");
      return List.of("object", "array", "string", "number", "boolean", "null");
    }
    List<?> list = t instanceof List<?> l ? l : List.of(t);
    Set<String> out = new LinkedHashSet<>();
    for (Object o : list) {
      if (!(o instanceof String s) || !TYPES.contains(s)) throw new SchemaException("type", path, "type must be one of " + TYPES + " or a list of them, got " + o);
      out.add(s);
    }
    if (out.isEmpty()) throw new SchemaException("type", path, "type must not be an empty list");
    if (out.contains("number")) out.remove("integer"); // every integer is a number
    return List.copyOf(out);
  }

  private GrammarNode literals(Map<String, Object> m, String path, List<String> types) {
    String keyword = m.containsKey("enum") ? "enum" : "const";
    if (m.containsKey("enum") && m.containsKey("const")) throw new SchemaException("const", path, "use either enum or const, not both");
    for (String k : m.keySet()) {
      if (!k.equals(keyword) && !k.equals("type") && !ANNOTATIONS.contains(k)) {
        throw new SchemaException(k, path, "'" + k + "' beside '" + keyword + "' is not supported");
      }
    }
    List<?> values = keyword.equals("enum") ? (m.get("enum") instanceof List<?> l ? l : null) : java.util.Collections.singletonList(m.get("const"));
    if (values == null || values.isEmpty()) throw new SchemaException(keyword, path, "enum must be a non-empty array");
    List<String> texts = new ArrayList<>();
    for (Object v : values) if (matchesType(v, types)) texts.add(JsonText.of(v));
    if (texts.isEmpty()) throw new SchemaException(keyword, path, keyword + " has no value of type " + types);
    return new Lit(texts);
  }

  private static boolean matchesType(Object v, List<String> types) {
    for (String t : types) {
      boolean ok = switch (t) {
        case "object" -> v instanceof Map;
        case "array" -> v instanceof List;
        case "string" -> v instanceof String;
        case "number" -> v instanceof Number;
        case "integer" -> v instanceof Long || (v instanceof Double d && d == Math.rint(d));
        case "boolean" -> v instanceof Boolean;
        default -> v == null;
      };
      if (ok) return true;
    }
    return false;
  }

  private Obj object(Map<String, Object> m, String path) {
    Object p = m.getOrDefault("properties", Map.of());
    if (!(p instanceof Map<?, ?> props)) throw new SchemaException("properties", path, "properties must be an object");
    Object r = m.getOrDefault("required", List.of());
    if (!(r instanceof List<?> req)) throw new SchemaException("required", path, "required must be an array of property names");
    for (Object name : req) {
      if (!(name instanceof String s) || !props.containsKey(s)) {
        throw new SchemaException("required", path, "required names " + JsonText.of(name) + ", which is not in properties");
      }
    }
    Object ap = m.get("additionalProperties");
    if (strict && !Boolean.FALSE.equals(ap)) throw new SchemaException("additionalProperties", path, "with strict, every object must set additionalProperties: false");
    if (strict && req.size() != props.size()) throw new SchemaException("required", path, "with strict, every property must be listed in required");
    GrammarNode additional;
    if (ap == null) additional = props.isEmpty() ? Grammar.any() : null;
    else if (Boolean.FALSE.equals(ap)) additional = null;
    else additional = node(ap, path + "/additionalProperties");
    List<String> names = new ArrayList<>();
    List<GrammarNode> values = new ArrayList<>();
    List<Boolean> required = new ArrayList<>();
    for (Map.Entry<?, ?> e : props.entrySet()) {
      String name = (String) e.getKey();
      names.add(name);
      values.add(node(e.getValue(), path + "/properties/" + escapePointer(name)));
      required.add(req.contains(name));
    }
    return new Obj(names, values, required, additional);
  }

  private Arr array(Map<String, Object> m, String path) {
    Object items = m.getOrDefault("items", Boolean.TRUE);
    if (Boolean.FALSE.equals(items)) throw new SchemaException("items", path, "items: false is not supported; use maxItems: 0");
    int min = nonNegative(m, "minItems", 0, path), max = nonNegative(m, "maxItems", -1, path);
    if (max >= 0 && min > max) throw new SchemaException("minItems", path, "minItems " + min + " > maxItems " + max + " admits no array");
    return new Arr(node(items, path + "/items"), min, max);
  }

  private Str string(Map<String, Object> m, String path) {
    int min = nonNegative(m, "minLength", 0, path), max = nonNegative(m, "maxLength", -1, path);
    if (max >= 0 && min > max) throw new SchemaException("minLength", path, "minLength " + min + " > maxLength " + max + " admits no string");
    return new Str(min, max);
  }

  private static int nonNegative(Map<String, Object> m, String keyword, int dflt, String path) {
    Object v = m.get(keyword);
    if (v == null) return dflt;
    if (!(v instanceof Long l) || l < 0 || l > 1_000_000) throw new SchemaException(keyword, path, keyword + " must be an integer in [0, 1000000]");
    return (int) (long) l;
  }

  private Ref ref(Object target, String path) {
    if (!(target instanceof String pointer) || !(pointer.equals("#") || pointer.startsWith("#/"))) {
      throw new SchemaException("$ref", path, "$ref must be a JSON pointer into this schema (\"#\", \"#/$defs/name\"), got " + target);
    }
    Ref r = refs.get(pointer);
    if (r != null) return r;
    r = new Ref(pointer);
    refs.put(pointer, r);
    Object at = document;
    if (pointer.length() > 1) {
      for (String part : pointer.substring(2).split("/", -1)) {
        String key = part.replace("~1", "/").replace("~0", "~");
        if (at instanceof Map<?, ?> mm && mm.containsKey(key)) at = mm.get(key);
        else if (at instanceof List<?> l && key.matches("\\d+") && Integer.parseInt(key) < l.size()) at = l.get(Integer.parseInt(key));
        else throw new SchemaException("$ref", path, "$ref " + pointer + " points at nothing");
      }
    }
    r.target = node(at, pointer);
    return r;
  }

  private static String escapePointer(String name) {
    return name.replace("~", "~0").replace("/", "~1");
  }
}
