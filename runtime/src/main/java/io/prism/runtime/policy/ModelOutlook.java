package io.prism.runtime.policy;

import java.util.Arrays;

/**
 * What local admission needs to know about one model on a GPU, besides its queue: how fast it
 * prefills, how long its steps take, whether a running slot is free, and whether its weights must
 * come back first. Reported by the model's owner after its steps; every duration in nanoseconds.
 *
 * @param modelId the model
 * @param prefillTokensPerSecond its prefill speed (measured at load, refined from its steps), {@code > 0}
 * @param decodeStepNanos the measured time of one of its steps without prefill (a moving average;
 *     each step that carries a prefill chunk also carries this much decode work), {@code >= 0}
 * @param prefillChunkTokens most prompt tokens one step computes for one sequence, {@code >= 1}
 * @param maxRunning most sequences in its running batch, {@code >= 1}
 * @param remainingTokens for each running or waiting sequence in its engine, the tokens it may
 *     still generate (an upper bound: EOS or a stop string may come earlier), any order
 * @param resident whether its weights are on the device
 * @param activationNanos how long bringing its weights back takes (measured; an estimate before the
 *     first activation), {@code >= 0}
 */
public record ModelOutlook(String modelId, double prefillTokensPerSecond, long decodeStepNanos, int prefillChunkTokens, int maxRunning,
    int[] remainingTokens, boolean resident, long activationNanos) {
  public ModelOutlook {
    if (modelId == null || modelId.isEmpty()) throw new IllegalArgumentException("modelId must not be empty");
    if (!(prefillTokensPerSecond > 0) || Double.isInfinite(prefillTokensPerSecond)) {
      throw new IllegalArgumentException(modelId + ": prefillTokensPerSecond must be finite and > 0, got " + prefillTokensPerSecond);
    }
    if (decodeStepNanos < 0 || activationNanos < 0) throw new IllegalArgumentException(modelId + ": durations must be >= 0");
    if (prefillChunkTokens < 1 || maxRunning < 1) throw new IllegalArgumentException(modelId + ": prefillChunkTokens and maxRunning must be >= 1");
    remainingTokens = remainingTokens == null ? new int[0] : remainingTokens.clone();
    Arrays.sort(remainingTokens);
  }

  /** A model with nothing running, resident, whose steps cost nothing beyond prefill. */
  public static ModelOutlook idle(String modelId, double prefillTokensPerSecond) {
    return new ModelOutlook(modelId, prefillTokensPerSecond, 0, Integer.MAX_VALUE, Integer.MAX_VALUE, new int[0], true, 0);
  }

  /**
   * Extra prefill time of a prompt of {@code promptTokens}: one step of the running batch's decode
   * work per prefill chunk, {@code ceil(promptTokens / prefillChunkTokens) * decodeStepNanos}.
   */
  public long overheadNanos(int promptTokens) {
    return overheadNanos(promptTokens, 0);
  }

  /**
   * As {@link #overheadNanos(int)} when the device also runs {@code othersStepNanos} of other
   * models' decode steps between two of this model's steps (models of one device take turns on
   * its one engine thread).
   */
  public long overheadNanos(int promptTokens, long othersStepNanos) {
    long chunks = (promptTokens + (long) prefillChunkTokens - 1) / prefillChunkTokens;
    return chunks * (decodeStepNanos + Math.max(0, othersStepNanos));
  }

  /** Whether it has decoding sequences (its steps cost the device time whether or not it prefills). */
  public boolean decoding() {
    return remainingTokens.length > 0;
  }

  /**
   * Time before a request that is {@code ahead}-th in line for a running slot (0: the first new one)
   * can start: the activation if evicted, plus, when the running batch is full, the decode steps
   * until enough of the sequences in the engine have finished ({@code remainingTokens} sorted,
   * one token per step each).
   */
  public long startDelayNanos(int ahead) {
    long delay = resident ? 0 : activationNanos;
    int inEngine = remainingTokens.length + ahead;
    int mustFinish = inEngine + 1 - maxRunning;
    if (mustFinish > 0) {
      int idx = Math.min(mustFinish, remainingTokens.length) - 1;
      long tokens = idx >= 0 ? remainingTokens[idx] : 0;
      // a newly admitted sequence ahead of it (beyond what runs) must also finish: it has not started, so count a full run
      if (mustFinish > remainingTokens.length && remainingTokens.length > 0) tokens += remainingTokens[remainingTokens.length - 1];
      delay += tokens * decodeStepNanos;
    }
    return delay;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ModelOutlook m && m.modelId.equals(modelId) && m.prefillTokensPerSecond == prefillTokensPerSecond
        && m.decodeStepNanos == decodeStepNanos && m.prefillChunkTokens == prefillChunkTokens && m.maxRunning == maxRunning
        && Arrays.equals(m.remainingTokens, remainingTokens) && m.resident == resident && m.activationNanos == activationNanos;
  }

  @Override
  public int hashCode() {
    return modelId.hashCode() * 31 + Arrays.hashCode(remainingTokens);
  }

  @Override
  public int[] remainingTokens() {
    return remainingTokens.clone();
  }
}
