package io.prism.runtime.engine;

/** Answer of {@link ModelEngine#submit}: the request is queued, or it never will be. */
public sealed interface Admission {
  /** Queued; events for {@code requestId} follow from {@link ModelEngine#step()}. */
  record Accepted(String requestId) implements Admission {}

  /**
   * Not queued; no events will follow.
   *
   * @param reason human-readable, suitable for an HTTP 400 body (e.g. the context-length message)
   */
  record Rejected(String reason) implements Admission {}
}
