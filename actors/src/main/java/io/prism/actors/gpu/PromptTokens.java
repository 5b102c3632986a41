package io.prism.actors.gpu;

import io.prism.actors.frontend.GenerateRequest;
import io.prism.runtime.chat.ChatTemplateException;
import io.prism.runtime.chat.ChatTokenizer;
import io.prism.runtime.engine.Rejection;
import io.prism.runtime.tokenizer.Tokenizer;

/**
 * The prompt tokens of a request, made on the GPU's node with the model's own tokenizer: given
 * token ids as they are; a text prompt encoded (BOS first when asked and the vocabulary has one);
 * a chat rendered with the model's chat template and encoded ({@link ChatTokenizer#encodeChat}). What cannot become tokens
 * is a typed refusal: {@link Rejection.InvalidRequest} naming {@code messages} (a template that
 * raises or fails, with the template's name and line) or {@code prompt}. Stateless.
 */
final class PromptTokens {
  /** The request cannot become tokens; {@link #rejection()} says why. */
  static final class Refused extends Exception {
    private final transient Rejection rejection;

    Refused(Rejection rejection) {
      super(rejection.toString(), null, false, false);
      this.rejection = rejection;
    }

    Rejection rejection() {
      return rejection;
    }
  }

  private PromptTokens() {}

  /**
   * @throws Refused with a 400-class rejection when the prompt or chat cannot be tokenized
   */
  static int[] of(GenerateRequest r, Tokenizer tokenizer) throws Refused {
    if (r.promptTokens() != null) return r.promptTokens();
    try {
      if (r.chat() != null) return ChatTokenizer.encodeChat(tokenizer, r.chat());
      // BOS only where the vocabulary has one (Qwen's has none; Hugging Face's post-processor adds nothing there)
      return tokenizer.encode(r.prompt(), r.addBos() && tokenizer.bosId() >= 0, false);
    } catch (ChatTemplateException ex) {
      throw new Refused(new Rejection.InvalidRequest("messages", ex.getMessage()));
    } catch (IllegalArgumentException ex) {
      String param = r.chat() != null ? "messages" : "prompt";
      throw new Refused(new Rejection.InvalidRequest(param, param + " cannot be tokenized: " + ex.getMessage()));
    }
  }
}
