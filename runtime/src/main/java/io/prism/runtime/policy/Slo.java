package io.prism.runtime.policy;

import java.time.Duration;

/**
 * A model's latency service-level objective: bounds on time to first token and on time per output
 * token (DESIGN.md section 1).
 *
 * <p><b>Strictness</b> is a total order used by the reclaim rule "a model with a stricter SLO is
 * never preempted to serve a looser one" (issue 5): compare TPOT first (preemption delays decode
 * tokens, so TPOT is the bound it endangers), then TTFT. Equal SLOs are not stricter than each
 * other, so models of one SLO class may preempt each other.
 *
 * @param ttft bound on time to first token, positive
 * @param tpot bound on mean time per output token after the first, positive
 */
public record Slo(Duration ttft, Duration tpot) {
  /**
   * A practically absent SLO (100 years for both bounds, still representable in nanoseconds):
   * nearly every model may preempt a model holding it.
   */
  public static final Slo NONE = new Slo(Duration.ofDays(36500), Duration.ofDays(36500));

  public Slo {
    if (ttft == null || ttft.isNegative() || ttft.isZero()) throw new IllegalArgumentException("ttft SLO must be positive, got " + ttft);
    if (tpot == null || tpot.isNegative() || tpot.isZero()) throw new IllegalArgumentException("tpot SLO must be positive, got " + tpot);
  }

  /** Convenience factory from milliseconds. */
  public static Slo ofMillis(long ttftMillis, long tpotMillis) {
    return new Slo(Duration.ofMillis(ttftMillis), Duration.ofMillis(tpotMillis));
  }

  /**
   * Strictness order: negative if this SLO is stricter than {@code other}, 0 if equal, positive if
   * looser (TPOT first, then TTFT).
   */
  public int compareStrictness(Slo other) {
    int c = tpot.compareTo(other.tpot);
    return c != 0 ? c : ttft.compareTo(other.ttft);
  }

  /** True iff this SLO is strictly stricter than {@code other} (see the class comment). */
  public boolean isStricterThan(Slo other) {
    return compareStrictness(other) < 0;
  }
}
