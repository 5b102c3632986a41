package io.prism.actors.gpu;

import io.prism.actors.frontend.GenerateRequest;
import io.prism.runtime.structured.StructuredOutput;
import io.prism.runtime.structured.ToolCallFormat;
import io.prism.runtime.tokenizer.Tokenizer;

/**
 * Decides, on the model's node, how a request's tool calls look: the format the model's chat
 * template teaches ({@link ToolCallFormat#of}), else {@link ToolCallFormat#HERMES}; the system
 * property {@code prism.models.tool-parser} ({@code llama3_json} or {@code hermes}) overrides it for
 * every model. Stateless.
 */
final class StructuredOutputs {
  private StructuredOutputs() {}

  /** {@code r}'s structured output with its tool-call format filled in, or null when it has none and no tools. */
  static StructuredOutput resolve(GenerateRequest r, Tokenizer tokenizer) {
    boolean tools = r.chat() != null && r.chat().toolsJson() != null;
    if (r.structured() == null && !tools) return null;
    ToolCallFormat format = null;
    if (tools || (r.structured() != null && r.structured().constraint() != null)) {
      String forced = System.getProperty("prism.models.tool-parser");
      format = forced != null && !forced.isBlank() ? ToolCallFormat.named(forced) : ToolCallFormat.of(tokenizer, ToolCallFormat.HERMES);
    }
    return new StructuredOutput(r.structured() == null ? null : r.structured().constraint(), format);
  }
}
