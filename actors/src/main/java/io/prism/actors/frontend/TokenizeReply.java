package io.prism.actors.frontend;

import io.prism.actors.PrismMessage;
import io.prism.runtime.engine.Rejection;

/** The answer to a {@link TokenizeRequest}. */
public sealed interface TokenizeReply extends PrismMessage {
  /**
   * The prompt's tokens.
   *
   * @param tokens token ids, BOS included when the model's rules put one
   * @param maxModelLen the model's context length in tokens
   */
  record Tokens(int[] tokens, int maxModelLen) implements TokenizeReply {}

  /**
   * The text of the token ids, special tokens written as their text (as Hugging Face's {@code
   * decode(ids)} and vLLM's {@code /detokenize}).
   *
   * @param prompt the decoded text
   */
  record Text(String prompt) implements TokenizeReply {}

  /** Not done: unknown model, a template that raises, ids outside the vocabulary, ... */
  record Refused(Rejection rejection) implements TokenizeReply {}
}
