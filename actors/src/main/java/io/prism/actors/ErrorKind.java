package io.prism.actors;

/**
 * Why a request was refused before it started, in the terms the OpenAI API uses. The HTTP layer
 * maps each to a status code and error type; {@link #retryable()} says whether retrying the same
 * request later can help (if not, the reply carries {@code x-should-retry: false}).
 */
public enum ErrorKind {
  /** No such model in the catalog (HTTP 404). */
  MODEL_NOT_FOUND(false),
  /** A field is missing or out of range (HTTP 400). */
  INVALID_REQUEST(false),
  /** Prompt plus max_tokens exceed the model's context (HTTP 400). */
  CONTEXT_LENGTH_EXCEEDED(false),
  /** Too many requests queued right now (HTTP 429); retrying later can help. */
  OVERLOADED(true),
  /** The model cannot be served (no GPU can hold it, or its GPU is gone) (HTTP 503). */
  UNAVAILABLE(false),
  /** An internal failure (HTTP 500). */
  INTERNAL(false),
  /**
   * Local admission rejected the request: it cannot meet its model's TTFT SLO even if served next
   * (HTTP 503); retrying the same request at once cannot help.
   */
  SLO_UNATTAINABLE(false);

  private final boolean retryable;

  ErrorKind(boolean retryable) {
    this.retryable = retryable;
  }

  /** Whether retrying the same request later can succeed. */
  public boolean retryable() {
    return retryable;
  }
}
