package io.prism.runtime.structured;

/**
 * A JSON Schema that {@link JsonSchemaCompiler} cannot turn into a grammar: an unsupported or
 * unknown keyword, a keyword with a value of the wrong shape, or a schema that admits no value.
 * Over HTTP it becomes a 400 whose {@code param} is the schema's field and whose message names the
 * keyword and where it sits.
 */
public final class SchemaException extends IllegalArgumentException {
  private final String keyword;
  private final String path;

  /**
   * @param keyword the offending keyword ({@code "pattern"}, {@code "$ref"}, ...), or {@code ""} for
   *     the schema as a whole
   * @param path JSON pointer of the subschema holding it ({@code "#/properties/name"})
   * @param message what is wrong and, where there is one, the fix
   */
  public SchemaException(String keyword, String path, String message) {
    super(message + (keyword.isEmpty() ? "" : " (keyword '" + keyword + "'") + (keyword.isEmpty() ? "" : " at " + path + ")"));
    this.keyword = keyword;
    this.path = path;
  }

  /** The offending keyword, or {@code ""}. */
  public String keyword() {
    return keyword;
  }

  /** JSON pointer of the subschema that holds the keyword. */
  public String path() {
    return path;
  }
}
