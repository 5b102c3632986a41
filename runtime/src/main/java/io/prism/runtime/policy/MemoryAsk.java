package io.prism.runtime.policy;

/**
 * When one model asks its GPU for memory it does not have, and how urgently: the rules a model's
 * owner applies before each step, kept here so the actors, the tests and the simulator run the same
 * ones. One instance per model instance; plain state, not thread-safe; times in nanoseconds on the
 * device clock.
 *
 * <ul>
 *   <li><b>At risk.</b> A request that has waited for its first token at least {@link
 *       #TTFT_AT_RISK} of its model's TTFT SLO marks the model's ask as a prefill at risk: from then
 *       on reclaim may preempt the decodes of models with a strictly looser SLO for it (otherwise a
 *       prefill waits for memory).
 *   <li><b>Back-off.</b> After a refusal (nothing could free enough), the model does not ask again
 *       for {@code retry} unless its running sequences need more than they did when refused: a
 *       model that stays short does not flood its GPU with plans that cannot succeed.
 *   <li><b>Hold of looser models.</b> When a stricter model's prefill is at risk and nothing can be
 *       freed, the models with a looser SLO start no new sequence for {@link #holdNanos} (half the
 *       stricter TTFT SLO, at least {@code retry}), so the memory their sequences free as they end
 *       flows to it.
 * </ul>
 */
public final class MemoryAsk {
  /** Fraction of its TTFT SLO a request may wait for its first token before its prefill counts as at risk. */
  public static final double TTFT_AT_RISK = 0.5;

  private final long retryNanos;
  private long refusedUntilNanos = Long.MIN_VALUE;
  private int refusedNeed;
  private int askedNeed;
  private boolean asking;

  /** @param retryNanos the back-off after a refusal ({@code prism.gpu.reclaim-retry}), {@code >= 0} */
  public MemoryAsk(long retryNanos) {
    if (retryNanos < 0) throw new IllegalArgumentException("retryNanos must be >= 0, got " + retryNanos);
    this.retryNanos = retryNanos;
  }

  /** Whether a request waiting since {@code oldestWithoutFirstTokenNanos} ({@link Long#MAX_VALUE}: none) is at risk now. */
  public static boolean atRisk(long nowNanos, long oldestWithoutFirstTokenNanos, long ttftSloNanos) {
    return oldestWithoutFirstTokenNanos != Long.MAX_VALUE && nowNanos - oldestWithoutFirstTokenNanos >= ttftSloNanos * TTFT_AT_RISK;
  }

  /** How long looser models hold their admissions for a stricter model whose prefill is at risk. */
  public static long holdNanos(long strictTtftSloNanos, long retryNanos) {
    return Math.max(retryNanos, strictTtftSloNanos / 2);
  }

  /** Whether an ask is outstanding. */
  public boolean asking() {
    return asking;
  }

  /**
   * Whether to ask now for a shortage whose running part is {@code pagesForRunning}: not while an
   * ask is outstanding, nor within the back-off of a refusal unless the running need grew.
   */
  public boolean shouldAsk(long nowNanos, int pagesForRunning) {
    if (asking) return false;
    return !(nowNanos < refusedUntilNanos && pagesForRunning <= refusedNeed);
  }

  /** An ask went out with {@code pagesForRunning} pages for running sequences. */
  public void asked(int pagesForRunning) {
    asking = true;
    askedNeed = pagesForRunning;
  }

  /** The ask ended: granted (or retry) clears it; refused starts the back-off. */
  public void answered(boolean refused, long nowNanos) {
    asking = false;
    if (refused) {
      refusedUntilNanos = nowNanos + retryNanos;
      refusedNeed = askedNeed;
    }
  }

  /** Whether a refusal's back-off still runs at {@code nowNanos}. */
  public boolean backingOff(long nowNanos) {
    return nowNanos < refusedUntilNanos;
  }

  /** The back-off in nanoseconds. */
  public long retryNanos() {
    return retryNanos;
  }

  /**
   * Refines a speed estimate with one sample: an exponential moving average with weight 0.3 for the
   * sample (one cold or disturbed measurement does not dominate).
   *
   * @return the new estimate; {@code current} when the sample is not positive and finite
   */
  public static double smooth(double current, double sample) {
    if (!(sample > 0) || Double.isInfinite(sample)) return current;
    if (!(current > 0)) return sample;
    return 0.7 * current + 0.3 * sample;
  }
}
