package io.prism.runtime.structured;

import io.prism.runtime.chat.ChatFormat;
import io.prism.runtime.chat.ChatTokenizer;
import io.prism.runtime.tokenizer.Tokenizer;
import java.util.Locale;

/**
 * How a model family writes tool calls in its answer (what its chat template teaches it):
 * <ul>
 *   <li>{@link #LLAMA3_JSON}: Llama 3.1/3.2/3.3's JSON tool calling, the answer being {@code {"name":
 *       "fn", "parameters": {...}}}, possibly after {@code <|python_tag|>}; several calls separated
 *       by {@code ;} (as vLLM's {@code llama3_json} parser reads them);
 *   <li>{@link #HERMES}: Hermes/Qwen's {@code <tool_call>\n{"name": "fn", "arguments": {...}}\n</tool_call>}
 *       blocks, text allowed before the first.
 * </ul>
 * Immutable.
 */
public enum ToolCallFormat {
  LLAMA3_JSON("llama3_json", "parameters"),
  HERMES("hermes", "arguments");

  private final String configName;
  private final String argumentsKey;

  ToolCallFormat(String configName, String argumentsKey) {
    this.configName = configName;
    this.argumentsKey = argumentsKey;
  }

  /** The name in configuration ({@code prism.models.tool-parser}): {@code llama3_json} or {@code hermes}, vLLM's names. */
  public String configName() {
    return configName;
  }

  /** The key of the call's arguments object: {@code parameters} or {@code arguments}. */
  public String argumentsKey() {
    return argumentsKey;
  }

  /**
   * The format named {@code name} ({@code llama3_json}, {@code llama3}, {@code hermes}, {@code
   * qwen}; case-insensitive).
   *
   * @throws IllegalArgumentException naming the accepted values
   */
  public static ToolCallFormat named(String name) {
    return switch (name.toLowerCase(Locale.ROOT)) {
      case "llama3_json", "llama3", "llama" -> LLAMA3_JSON;
      case "hermes", "qwen", "qwen2", "qwen3" -> HERMES;
      default -> throw new IllegalArgumentException("unknown tool parser '" + name + "'; use llama3_json or hermes");
    };
  }

  /**
   * The format a chat template text teaches: {@code <tool_call>} means {@link #HERMES}; {@code
   * <|python_tag|>} or Llama 3's {@code "parameters"} instruction means {@link #LLAMA3_JSON}; else
   * null (the template does not say).
   */
  public static ToolCallFormat fromTemplate(String template) {
    if (template == null) return null;
    if (template.contains("<tool_call>")) return HERMES;
    if (template.contains("<|python_tag|>") || (template.contains("<|start_header_id|>") && template.contains("parameters"))) return LLAMA3_JSON;
    return null;
  }

  /**
   * The format of {@code tokenizer}'s chat template (its tool-use template when it has named ones),
   * or {@code dflt} when it has none or it does not say.
   */
  public static ToolCallFormat of(Tokenizer tokenizer, ToolCallFormat dflt) {
    if (!(tokenizer instanceof ChatTokenizer c)) return dflt;
    ChatFormat f = c.format();
    if (!f.hasTemplate()) return dflt;
    ToolCallFormat found = fromTemplate(f.template(true).source());
    return found != null ? found : dflt;
  }
}
