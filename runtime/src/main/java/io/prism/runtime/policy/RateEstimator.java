package io.prism.runtime.policy;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * Token rate per model as a sliding-window moving average (Prism uses 60 s windows for the rates
 * that drive placement, arXiv 2505.04021).
 *
 * <p>{@code rate(model, now) = (tokens recorded at times t with now - window < t <= now) / window}
 * in tokens per second. The divisor is always the full window, so a model that started less than a
 * window ago reads low until a window has passed (conservative for placement: a new model does not
 * look hot from one burst).
 *
 * <p>No clock inside: every call takes its time. Times must never go backwards: each call's time
 * must be {@code >=} every time passed before (one monotonic clock, e.g. the owning actor's
 * {@link System#nanoTime()} or the simulator's event time). Memory: one entry per recorded event
 * inside the window.
 *
 * <p>Not thread-safe: owned by one actor or one simulator thread.
 */
public final class RateEstimator {
  /** The paper's moving-average window. */
  public static final Duration DEFAULT_WINDOW = Duration.ofSeconds(60);

  private final long windowNanos;
  private final Map<String, Series> series = new HashMap<>();
  private long latestNanos = Long.MIN_VALUE;

  private static final class Series {
    final ArrayDeque<long[]> events = new ArrayDeque<>(); // {timestampNanos, tokens}
    long sum;
  }

  /**
   * @param window averaging window, positive
   * @throws IllegalArgumentException if not positive
   */
  public RateEstimator(Duration window) {
    if (window == null || window.isNegative() || window.isZero()) throw new IllegalArgumentException("window must be positive, got " + window);
    this.windowNanos = window.toNanos();
  }

  /** With {@link #DEFAULT_WINDOW}. */
  public RateEstimator() {
    this(DEFAULT_WINDOW);
  }

  /**
   * Records {@code tokens} tokens processed for {@code modelId} at {@code timestampNanos}.
   *
   * @throws IllegalArgumentException if {@code tokens < 0} or the time is earlier than a time passed before
   */
  public void record(String modelId, long timestampNanos, long tokens) {
    if (tokens < 0) throw new IllegalArgumentException("tokens must be >= 0, got " + tokens);
    advance(timestampNanos);
    if (tokens == 0) return;
    Series s = series.computeIfAbsent(modelId, k -> new Series());
    s.events.addLast(new long[] {timestampNanos, tokens});
    s.sum += tokens;
    prune(s, timestampNanos);
  }

  /**
   * Moving-average token rate of {@code modelId} at {@code nowNanos}, tokens per second; 0 for a
   * model never recorded.
   *
   * @throws IllegalArgumentException if the time is earlier than a time passed before
   */
  public double tokensPerSecond(String modelId, long nowNanos) {
    advance(nowNanos);
    Series s = series.get(modelId);
    if (s == null) return 0;
    prune(s, nowNanos);
    return s.sum / (windowNanos / 1e9);
  }

  /** Rates of every model ever recorded at {@code nowNanos}, in model-id order. */
  public Map<String, Double> rates(long nowNanos) {
    advance(nowNanos);
    Map<String, Double> out = new TreeMap<>();
    for (String m : series.keySet()) out.put(m, tokensPerSecond(m, nowNanos));
    return out;
  }

  /** Forgets a model (e.g. it was removed from the catalog). */
  public void forget(String modelId) {
    series.remove(modelId);
  }

  private void advance(long nanos) {
    if (nanos < latestNanos) {
      throw new IllegalArgumentException("time went backwards: " + nanos + " < " + latestNanos + " (RateEstimator needs one monotonic clock)");
    }
    latestNanos = nanos;
  }

  private void prune(Series s, long nowNanos) {
    long cutoff = nowNanos - windowNanos; // events at t <= cutoff are outside (now - window, now]
    while (!s.events.isEmpty() && s.events.peekFirst()[0] <= cutoff) s.sum -= s.events.pollFirst()[1];
  }
}
