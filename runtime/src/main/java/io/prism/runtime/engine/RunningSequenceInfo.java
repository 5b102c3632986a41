package io.prism.runtime.engine;

import io.prism.runtime.policy.DecodePreemptionPolicy;
import io.prism.runtime.policy.Slo;

/**
 * A running sequence of a {@link ModelEngine} as the GPU actor sees it when choosing whom to preempt
 * ({@link DecodePreemptionPolicy}): a snapshot, times on the engine's clock ({@link System#nanoTime()}
 * in production).
 *
 * @param requestId the request
 * @param numTokens prompt plus generated tokens
 * @param promptTokens prompt length
 * @param generatedTokens tokens generated so far
 * @param arrivalNanos the request's arrival ({@link GenerationRequest#arrivalNanos()})
 * @param decoding true once its first token was emitted (it decodes; before that it prefills)
 * @param firstTokenNanos when its first token was emitted; meaningful only if {@code decoding}
 * @param pageIdsFreedIfPreempted page ids {@link ModelEngine#preemptForMemory} would give back now
 *     (those whose every used block is this sequence's alone); times {@link
 *     ModelEngine#physicalPagesPerPageId()} for pool pages
 */
public record RunningSequenceInfo(String requestId, int numTokens, int promptTokens, int generatedTokens, long arrivalNanos,
    boolean decoding, long firstTokenNanos, int pageIdsFreedIfPreempted) {

  /**
   * Time left before the sequence breaks {@code slo}, negative when already late: for a decoding
   * sequence its TPOT slack ({@link DecodePreemptionPolicy#slackNanos}), for a prefilling one its
   * TTFT slack {@code arrival + ttft - now}.
   */
  public long slackNanos(Slo slo, long nowNanos) {
    if (decoding) return DecodePreemptionPolicy.slackNanos(firstTokenNanos, Math.max(0, generatedTokens - 1), slo.tpot(), nowNanos);
    return arrivalNanos + slo.ttft().toNanos() - nowNanos;
  }
}
