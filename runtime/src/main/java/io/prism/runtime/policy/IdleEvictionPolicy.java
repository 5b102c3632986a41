package io.prism.runtime.policy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.OptionalLong;

/**
 * Which resident models to evict to host memory because they are idle (Prism, arXiv 2505.04021:
 * idle models are evicted after about 45 s; under 40 s thrashes, over 80 s hoards memory).
 *
 * <p>A model is evictable iff it is resident, has no in-flight request, and has been idle for at
 * least the threshold: {@code now - lastActivity >= idleThreshold}. Evictions come longest idle
 * first (ties: model id), so a caller that needs only some memory can stop early.
 *
 * <p>Pure and thread-safe.
 */
public final class IdleEvictionPolicy {
  /** The paper's idle threshold. */
  public static final Duration DEFAULT_IDLE_THRESHOLD = Duration.ofSeconds(45);

  private final long thresholdNanos;

  /**
   * @param idleThreshold idle time after which a model may be evicted, {@code >= 0}
   * @throws IllegalArgumentException if negative
   */
  public IdleEvictionPolicy(Duration idleThreshold) {
    if (idleThreshold == null || idleThreshold.isNegative()) throw new IllegalArgumentException("idleThreshold must be >= 0, got " + idleThreshold);
    this.thresholdNanos = idleThreshold.toNanos();
  }

  /** With {@link #DEFAULT_IDLE_THRESHOLD}. */
  public IdleEvictionPolicy() {
    this(DEFAULT_IDLE_THRESHOLD);
  }

  /** The idle threshold. */
  public Duration idleThreshold() {
    return Duration.ofNanos(thresholdNanos);
  }

  /**
   * Models to evict now, longest idle first (ties: model id ascending).
   *
   * @param models activity of the GPU's models
   * @param nowNanos current time on the same clock as {@link ModelActivity#lastActivityNanos()}
   */
  public List<String> modelsToEvict(Collection<ModelActivity> models, long nowNanos) {
    List<ModelActivity> due = new ArrayList<>();
    for (ModelActivity m : models) {
      if (m.resident() && m.inFlightRequests() == 0 && nowNanos - m.lastActivityNanos() >= thresholdNanos) due.add(m);
    }
    due.sort(Comparator.comparingLong(ModelActivity::lastActivityNanos).thenComparing(ModelActivity::modelId));
    return due.stream().map(ModelActivity::modelId).toList();
  }

  /**
   * The earliest future time at which a currently resident, quiet, not yet evictable model becomes
   * evictable if nothing happens meanwhile: when to schedule the next check. Empty if there is none.
   */
  public OptionalLong nextEvictionNanos(Collection<ModelActivity> models, long nowNanos) {
    long best = Long.MAX_VALUE;
    boolean any = false;
    for (ModelActivity m : models) {
      if (!m.resident() || m.inFlightRequests() > 0) continue;
      long due = m.lastActivityNanos() + thresholdNanos;
      if (due > nowNanos && due < best) {
        best = due;
        any = true;
      }
    }
    return any ? OptionalLong.of(best) : OptionalLong.empty();
  }
}
