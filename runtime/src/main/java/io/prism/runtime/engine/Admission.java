package io.prism.runtime.engine;

/** Answer of {@link ModelEngine#submit}: the request is queued, or it never will be. */
public sealed interface Admission {
  /** Queued; events for {@code requestId} follow from {@link ModelEngine#step()}. */
  record Accepted(String requestId) implements Admission {}

  /**
   * Not queued; no events will follow.
   *
   * @param rejection why, typed (the HTTP layer maps its kind to a status and its param to the
   *     error's {@code param})
   */
  record Rejected(Rejection rejection) implements Admission {
    /** The human-readable reason ({@link Rejection#message()}). */
    public String reason() {
      return rejection.message();
    }
  }
}
