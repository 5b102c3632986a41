package io.prism.actors.frontend;

import io.prism.actors.PrismMessage;
import io.prism.runtime.chat.ChatInput;

/**
 * A request to see exactly what a model makes of a prompt or a chat ({@code POST /tokenize}), or
 * of token ids ({@code POST /detokenize}), answered by the GPU actor that hosts the model with the
 * model's own tokenizer and chat template. Exactly one of {@code prompt}, {@code chat} and {@code
 * tokens} is given.
 *
 * @param modelId model id from the catalog
 * @param prompt text to tokenize, or null
 * @param chat a conversation to render with the model's chat template and tokenize (as a chat
 *     completion would), or null
 * @param tokens token ids to turn back into text, or null
 * @param addSpecialTokens for {@code prompt}: put BOS first (vLLM's {@code add_special_tokens},
 *     default true); ignored otherwise
 */
public record TokenizeRequest(String modelId, String prompt, ChatInput chat, int[] tokens, boolean addSpecialTokens) implements PrismMessage {
  /** @throws IllegalArgumentException when the model is empty or not exactly one input is given */
  public TokenizeRequest {
    if (modelId == null || modelId.isEmpty()) throw new IllegalArgumentException("model must not be empty");
    int given = (prompt == null ? 0 : 1) + (chat == null ? 0 : 1) + (tokens == null ? 0 : 1);
    if (given != 1) throw new IllegalArgumentException("exactly one of prompt, chat and tokens must be given");
  }

  /** Whether it asks for text from token ids. */
  public boolean detokenize() {
    return tokens != null;
  }
}
