package io.prism.runtime.engine;

import io.prism.runtime.structured.StructuredOutput;
import io.prism.runtime.sampling.SamplingParams;

/**
 * One generation request as the engine sees it.
 *
 * @param requestId unique within the engine; events carry it back
 * @param promptTokens prompt token ids (BOS included when the model wants one), length >= 1
 * @param params sampling and stopping
 * @param arrivalNanos {@link System#nanoTime()} at arrival, for TTFT and deadline ordering
 * @param structured constrained decoding and tool-call format, or null for free text (see {@link
 *     ModelEngine}: a constrained sequence samples on the host path with the grammar's mask applied)
 */
public record GenerationRequest(String requestId, int[] promptTokens, SamplingParams params, long arrivalNanos, StructuredOutput structured) {
  public GenerationRequest {
    if (requestId == null || requestId.isEmpty()) throw new IllegalArgumentException("requestId must not be empty");
    if (promptTokens == null || promptTokens.length == 0) throw new IllegalArgumentException("prompt must have at least one token");
    if (params == null) throw new IllegalArgumentException("params must not be null");
  }

  /** A free-text request. */
  public GenerationRequest(String requestId, int[] promptTokens, SamplingParams params, long arrivalNanos) {
    this(requestId, promptTokens, params, arrivalNanos, null);
  }
}
