package io.prism.actors.gpu;

import io.prism.actors.GpuId;
import io.prism.actors.frontend.TokenizeReply;
import io.prism.actors.frontend.TokenizeRequest;
import io.prism.runtime.chat.ChatTemplateException;
import io.prism.runtime.chat.ChatTokenizer;
import io.prism.runtime.engine.Rejection;
import io.prism.runtime.tokenizer.Tokenizer;

/**
 * The GPU actor's answer to {@link GpuActor.Tokenize}, with the model's own tokenizer and chat
 * template (the same path a completion's prompt takes, {@link PromptTokens}): a prompt or chat
 * becomes {@link TokenizeReply.Tokens}, token ids {@link TokenizeReply.Text}; what cannot is
 * {@link TokenizeReply.Refused} ({@link Rejection.InvalidRequest} naming the field, or {@link
 * Rejection.Unavailable} while the model loads or after it left this GPU). Runs on the GPU actor's
 * thread; stateless.
 */
final class Tokenizing {
  private Tokenizing() {}

  static TokenizeReply answer(TokenizeRequest r, GpuModels.Entry e, GpuId gpu) {
    if (e == null || e.unloading) {
      return new TokenizeReply.Refused(new Rejection.Unavailable("model '" + r.modelId() + "' is not on " + gpu + " (any more); retry shortly", "model", 1));
    }
    if (!e.ready) {
      return new TokenizeReply.Refused(new Rejection.Unavailable("model '" + r.modelId() + "' is loading; retry shortly", "model", 1));
    }
    Tokenizer t = e.profile.tokenizer();
    try {
      if (r.detokenize()) {
        for (int id : r.tokens()) {
          if (id < 0 || id >= t.vocabSize()) {
            return new TokenizeReply.Refused(new Rejection.InvalidRequest("tokens", "token id " + id + " is outside the vocabulary [0, " + t.vocabSize() + ")"));
          }
        }
        return new TokenizeReply.Text(t.decodeWithSpecialTokens(r.tokens()));
      }
      int[] tokens = r.chat() != null ? ChatTokenizer.encodeChat(t, r.chat()) : t.encode(r.prompt(), r.addSpecialTokens() && t.bosId() >= 0, false);
      return new TokenizeReply.Tokens(tokens, e.maxModelLen());
    } catch (ChatTemplateException ex) {
      return new TokenizeReply.Refused(new Rejection.InvalidRequest("messages", ex.getMessage()));
    } catch (IllegalArgumentException ex) {
      String param = r.detokenize() ? "tokens" : r.chat() != null ? "messages" : "prompt";
      return new TokenizeReply.Refused(new Rejection.InvalidRequest(param, param + " cannot be processed: " + ex.getMessage()));
    }
  }
}
