package io.prism.runtime.policy;

/**
 * A request waiting for prefill in a GPU's queue, as {@link MooreHodgsonAdmission} sees it.
 *
 * @param requestId unique within the queue
 * @param modelId the model it is for (the queue spans every model on the GPU)
 * @param arrivalNanos arrival time on the caller's monotonic clock
 * @param ttftDeadlineNanos latest time its first token may appear: {@code arrival + TTFT SLO};
 *     {@link #NO_DEADLINE} when the model has no TTFT SLO. Must be {@code >= arrivalNanos}.
 * @param promptTokens prompt tokens still to prefill, {@code >= 1}
 * @param prefillTokensPerSecond the model's prefill speed, measured at load, {@code > 0}
 * @param overheadNanos time its prefill takes beyond {@code promptTokens / prefillTokensPerSecond}
 *     on the GPU's one prefill machine (the decode work of the running batch in the steps that carry
 *     its chunks), {@code >= 0}
 * @param startDelayNanos time before its prefill can start whatever the queue: the wait for a
 *     running slot of its model, the activation of evicted weights, memory; {@code >= 0}. Admission
 *     treats {@code ttftDeadlineNanos - startDelayNanos} as its due date.
 */
public record QueuedRequest(String requestId, String modelId, long arrivalNanos, long ttftDeadlineNanos,
    int promptTokens, double prefillTokensPerSecond, long overheadNanos, long startDelayNanos) {
  /** Deadline of a request without a TTFT SLO: it is never late, so never dropped. */
  public static final long NO_DEADLINE = Long.MAX_VALUE;

  /** A request whose cost is its prefill alone (no overhead, no start delay). */
  public QueuedRequest(String requestId, String modelId, long arrivalNanos, long ttftDeadlineNanos, int promptTokens,
      double prefillTokensPerSecond) {
    this(requestId, modelId, arrivalNanos, ttftDeadlineNanos, promptTokens, prefillTokensPerSecond, 0, 0);
  }

  public QueuedRequest {
    if (overheadNanos < 0 || startDelayNanos < 0) {
      throw new IllegalArgumentException("request " + requestId + ": overhead and start delay must be >= 0, got " + overheadNanos + ", "
          + startDelayNanos);
    }
    if (requestId == null || requestId.isEmpty()) throw new IllegalArgumentException("requestId must not be empty");
    if (modelId == null || modelId.isEmpty()) throw new IllegalArgumentException("modelId of " + requestId + " must not be empty");
    if (ttftDeadlineNanos < arrivalNanos) {
      throw new IllegalArgumentException("request " + requestId + ": deadline " + ttftDeadlineNanos + " before arrival " + arrivalNanos);
    }
    if (promptTokens < 1) throw new IllegalArgumentException("request " + requestId + ": promptTokens must be >= 1, got " + promptTokens);
    if (!(prefillTokensPerSecond > 0) || Double.isInfinite(prefillTokensPerSecond)) {
      throw new IllegalArgumentException("request " + requestId + ": prefillTokensPerSecond must be finite and > 0, got "
          + prefillTokensPerSecond);
    }
  }

  /**
   * Estimated prefill time, the job length of Algorithm 2: {@code ceil(promptTokens * 1e9 /
   * prefillTokensPerSecond) + overheadNanos} nanoseconds (at least 1).
   */
  public long estimatedPrefillNanos() {
    return Math.max(1, (long) Math.ceil(promptTokens * 1e9 / prefillTokensPerSecond) + overheadNanos);
  }

  /**
   * The due date admission plans against: the TTFT deadline less {@link #startDelayNanos()}
   * ({@link #NO_DEADLINE} stays).
   */
  public long dueNanos() {
    return hasDeadline() ? ttftDeadlineNanos - startDelayNanos : NO_DEADLINE;
  }

  /** True iff the request has a TTFT deadline. */
  public boolean hasDeadline() {
    return ttftDeadlineNanos != NO_DEADLINE;
  }
}
