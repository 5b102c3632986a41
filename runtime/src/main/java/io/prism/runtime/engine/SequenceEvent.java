package io.prism.runtime.engine;

/**
 * What one engine step produced for one request. Every accepted request yields, for each of its
 * {@code n} choices, zero or more {@link Token} events followed by exactly one {@link Finished}; the
 * request ends with the {@link Finished} whose {@code choicesLeft} is 0. With {@code n == 1} that is
 * its only {@code Finished}.
 */
public sealed interface SequenceEvent {
  String requestId();

  /**
   * A generated token.
   *
   * @param tokenId the token id
   * @param text text now safe to emit (never splits a UTF-8 character, never part of a possible stop
   *     string; may be empty while held back)
   * @param index 0-based position among the choice's generated tokens
   * @param choice the choice, in {@code [0, n)}
   * @param logprobs its log probabilities when the request asked for them, else null
   */
  record Token(String requestId, int tokenId, String text, int index, int choice, GeneratedLogprobs logprobs) implements SequenceEvent {
    /** A token of choice 0 without log probabilities. */
    public Token(String requestId, int tokenId, String text, int index) {
      this(requestId, tokenId, text, index, 0, null);
    }
  }

  /**
   * A choice ended.
   *
   * @param reason why
   * @param text any text held back until now (flushed detokenizer), may be empty
   * @param promptTokens prompt length in tokens
   * @param completionTokens tokens the request generated, over all its choices finished so far
   *     (with {@code choicesLeft == 0}: the request's total)
   * @param message human-readable reason for {@link FinishReason#FAILED}, else empty
   * @param choice the choice that ended
   * @param choicesLeft choices of the request still running; 0 when this ends the request
   */
  record Finished(String requestId, FinishReason reason, String text, int promptTokens, int completionTokens, String message, int choice,
      int choicesLeft) implements SequenceEvent {
    /** The end of a one-choice request. */
    public Finished(String requestId, FinishReason reason, String text, int promptTokens, int completionTokens, String message) {
      this(requestId, reason, text, promptTokens, completionTokens, message, 0, 0);
    }
  }
}
