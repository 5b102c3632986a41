package io.prism.runtime.structured;

/**
 * What a request constrains its output to, as it travels from the HTTP node to the model's engine
 * (serializable plain text; compiled on the engine's node against the model's vocabulary, through
 * {@link GrammarCache}). Immutable.
 */
public sealed interface OutputConstraint {
  /**
   * The grammar of this constraint for a model whose tool calls look like {@code format}.
   *
   * @throws SchemaException when the schema (or a tool's parameters) is outside the supported subset
   */
  Grammar grammar(ToolCallFormat format);

  /** OpenAI {@code response_format: {"type": "json_object"}}: any JSON object. */
  record JsonObject() implements OutputConstraint {
    @Override
    public Grammar grammar(ToolCallFormat format) {
      return Grammar.anyJsonObject();
    }
  }

  /**
   * OpenAI {@code response_format: {"type": "json_schema", ...}}.
   *
   * @param schemaJson the JSON Schema text
   * @param strict OpenAI's {@code strict} (see {@link JsonSchemaCompiler})
   */
  record JsonSchema(String schemaJson, boolean strict) implements OutputConstraint {
    @Override
    public Grammar grammar(ToolCallFormat format) {
      return JsonSchemaCompiler.compile(schemaJson, strict);
    }
  }

  /**
   * {@code tool_choice} {@code "required"} or a named function: the answer must be tool calls, in
   * the model family's format ({@link ToolCallGrammar}).
   *
   * @param toolsJson the request's {@code tools} array
   * @param functionName the only function allowed, or null for any of the tools
   * @param parallel whether several calls may come ({@code parallel_tool_calls}, never with a name)
   */
  record ToolCalls(String toolsJson, String functionName, boolean parallel) implements OutputConstraint {
    @Override
    public Grammar grammar(ToolCallFormat format) {
      return ToolCallGrammar.of(toolsJson, functionName, parallel, format);
    }
  }
}
