package io.prism.runtime.engine;

/**
 * What one engine step produced for one request. Every accepted request yields zero or more {@link
 * Token} events followed by exactly one {@link Finished}.
 */
public sealed interface SequenceEvent {
  String requestId();

  /**
   * A generated token.
   *
   * @param tokenId the token id
   * @param text text now safe to emit (never splits a UTF-8 character, never part of a possible stop
   *     string; may be empty while held back)
   * @param index 0-based position among the generated tokens
   */
  record Token(String requestId, int tokenId, String text, int index) implements SequenceEvent {}

  /**
   * The request ended.
   *
   * @param reason why
   * @param text any text held back until now (flushed detokenizer), may be empty
   * @param promptTokens prompt length in tokens
   * @param completionTokens tokens generated
   * @param message human-readable reason for {@link FinishReason#FAILED}, else empty
   */
  record Finished(String requestId, FinishReason reason, String text, int promptTokens, int completionTokens, String message)
      implements SequenceEvent {}
}
