package io.prism.runtime.engine;

/**
 * Why a request was refused before it started, typed once where the decision is made (the engine's
 * checks, the GPU's admission and queue bounds, the frontend's routing) and carried unchanged to
 * the HTTP layer, which maps {@link #kind()} to a status code and {@link #param()} to the OpenAI
 * error's {@code param}. Nothing downstream looks at {@link #message()} except to show it.
 *
 * <p>Every variant is an immutable record of strings and numbers, so it crosses nodes with Kryo.
 */
public sealed interface Rejection {
  /** The classes of refusal, in the OpenAI API's terms (HTTP status in brackets). */
  enum Kind {
    /** No such model in the catalog (404). */
    MODEL_NOT_FOUND,
    /** A field is missing, malformed or out of range (400). */
    INVALID_REQUEST,
    /** Prompt plus {@code max_tokens} exceed the model's context length (400). */
    CONTEXT_LENGTH_EXCEEDED,
    /** A queue bound is reached (429 with {@code Retry-After}). */
    OVERLOADED,
    /** The model cannot be served now or at all (503). */
    UNAVAILABLE,
    /** The GPU's deadline admission estimates the TTFT SLO cannot be met (503, no retry). */
    SLO_UNATTAINABLE,
    /** A failure inside Prism (500). */
    INTERNAL
  }

  /** The class of this refusal. */
  Kind kind();

  /** Human-readable: what happened and what to change. */
  String message();

  /** The offending request field ({@code prompt}, {@code max_tokens}, {@code model}...), or null. */
  String param();

  /**
   * Seconds after which the same request may succeed (HTTP {@code Retry-After}), or -1 when
   * retrying the same request cannot help (the reply then carries {@code x-should-retry: false}).
   */
  default long retryAfterSeconds() {
    return -1;
  }

  /** No model of that id is registered. */
  record ModelNotFound(String message) implements Rejection {
    @Override public Kind kind() { return Kind.MODEL_NOT_FOUND; }
    @Override public String param() { return "model"; }
  }

  /** A field is invalid; {@code param} names it (null: the request as a whole). */
  record InvalidRequest(String param, String message) implements Rejection {
    @Override public Kind kind() { return Kind.INVALID_REQUEST; }
  }

  /** Prompt plus {@code max_tokens} exceed the context length; the message uses OpenAI's wording. */
  record ContextLengthExceeded(String message) implements Rejection {
    @Override public Kind kind() { return Kind.CONTEXT_LENGTH_EXCEEDED; }
    @Override public String param() { return null; }
  }

  /**
   * A bounded queue is full (the model's or the GPU's).
   *
   * @param retryAfterSeconds when a retry may find room: the queue's length over its measured drain
   *     rate, at least 1
   */
  record Overloaded(String message, long retryAfterSeconds) implements Rejection {
    @Override public Kind kind() { return Kind.OVERLOADED; }
    @Override public String param() { return null; }
  }

  /**
   * The model cannot be served: shut down, unloaded, not placed, its GPU gone.
   *
   * @param retryAfterSeconds when a retry may succeed (a model being re-placed), or -1 if it cannot
   */
  record Unavailable(String message, String param, long retryAfterSeconds) implements Rejection {
    /** Unavailable, and retrying cannot help. */
    public Unavailable(String message) {
      this(message, null, -1);
    }

    @Override public Kind kind() { return Kind.UNAVAILABLE; }
  }

  /**
   * The GPU's deadline admission (the paper's Algorithm 2) estimates that the request cannot meet
   * its TTFT SLO even if served next.
   *
   * @param estimatedTtftMillis the estimated time to first token if served next, in milliseconds
   * @param ttftSloMillis the model's TTFT SLO, in milliseconds
   */
  record SloUnattainable(String message, long estimatedTtftMillis, long ttftSloMillis) implements Rejection {
    @Override public Kind kind() { return Kind.SLO_UNATTAINABLE; }
    @Override public String param() { return null; }
  }

  /** A failure inside Prism. */
  record Internal(String message) implements Rejection {
    @Override public Kind kind() { return Kind.INTERNAL; }
    @Override public String param() { return null; }
  }
}
