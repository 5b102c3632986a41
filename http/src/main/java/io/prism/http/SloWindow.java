package io.prism.http;

import io.prism.runtime.engine.Rejection;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/**
 * The recent ends of this node's completion requests, per model, for SLO attainment over a sliding
 * window ({@code GET /admin/dashboard}, the gauges {@code prism_slo_attainment} of {@code GET
 * /metrics}). Requests are recorded where they end, at the HTTP layer ({@code RequestOutcome}),
 * with the latencies the client saw; they are judged against a model's SLO when the attainment is
 * read, so a changed SLO applies to the whole window at once.
 *
 * <p>The rules are those of the simulator ({@code io.prism.runtime.policy.sim.SimResult}) and of the
 * paper's evaluation (arXiv 2505.04021, section 6): a request <i>meets TTFT</i> if its first token
 * came within the TTFT SLO of its arrival; it <i>meets TPOT</i> if it finished and its mean gap
 * after the first token is within the TPOT SLO (an answer of one token meets TPOT trivially);
 * <b>attainment</b> is the fraction meeting both. A request the server refused for want of capacity
 * ({@link Rejection.Kind#OVERLOADED} 429, {@link Rejection.Kind#SLO_UNATTAINABLE}, {@link
 * Rejection.Kind#UNAVAILABLE}, {@link Rejection.Kind#INTERNAL}) or that failed after it started
 * meets neither. Not counted at all: requests refused for the client's own error (invalid field,
 * unknown model, prompt over the context: there was nothing to serve), and cancelled ones (the
 * client went away or its request timeout fired; they are counted apart in {@link
 * Attainment#cancelled()}).
 *
 * <p>Memory: at most {@code maxPerModel} ends per model are kept (the oldest go first), and ends
 * older than the window are dropped on every record and read; a model with nothing left in the
 * window is forgotten. At most {@value #MAX_MODELS} model names are tracked at once (a client
 * cancelling requests for made-up names cannot grow it without bound).
 *
 * <p>Threading: thread-safe; each model's ends are guarded by their own lock.
 */
public final class SloWindow {
  /** Default of {@code prism.http.dashboard.slo-window}. */
  public static final Duration DEFAULT_WINDOW = Duration.ofSeconds(60);
  /** Default most request ends kept per model. */
  public static final int DEFAULT_MAX_PER_MODEL = 20_000;
  /** Most models tracked at once: ends of further model names are not recorded until some leave the window. */
  static final int MAX_MODELS = 4096;

  /** How a recorded request ended. */
  enum End {
    /** A complete answer (stop or length). */
    SERVED,
    /** Refused for want of capacity. */
    REFUSED,
    /** Failed after it started. */
    FAILED,
    /** The client went away or its request timeout fired. */
    CANCELLED
  }

  /** One request's end: wall-clock time, TTFT and TPOT in nanoseconds ({@code -1}: none). */
  private record Sample(long endMillis, End end, long ttftNanos, long tpotNanos) {}

  /**
   * One model's attainment over the window.
   *
   * @param requests requests judged: served, refused and failed (cancelled ones are not)
   * @param ttftMet requests whose first token came within the TTFT SLO
   * @param tpotMet requests that finished within the TPOT SLO
   * @param bothMet requests meeting both
   * @param refused requests refused for want of capacity
   * @param failed requests that failed after they started
   * @param cancelled requests cancelled (not in {@code requests})
   * @param p95TtftNanos 95th percentile TTFT of the served requests that got a first token, -1 if none
   * @param p95TpotNanos 95th percentile TPOT of served requests of two tokens or more, -1 if none
   */
  public record Attainment(int requests, int ttftMet, int tpotMet, int bothMet, int refused, int failed, int cancelled, long p95TtftNanos,
      long p95TpotNanos) {
    /** Nothing in the window. */
    public static final Attainment EMPTY = new Attainment(0, 0, 0, 0, 0, 0, 0, -1, -1);

    /** Fraction of {@code requests} meeting the TTFT SLO; NaN when there are none. */
    public double ttftFraction() {
      return requests == 0 ? Double.NaN : (double) ttftMet / requests;
    }

    /** Fraction of {@code requests} meeting the TPOT SLO; NaN when there are none. */
    public double tpotFraction() {
      return requests == 0 ? Double.NaN : (double) tpotMet / requests;
    }

    /** Fraction of {@code requests} meeting both SLOs (SLO attainment); NaN when there are none. */
    public double bothFraction() {
      return requests == 0 ? Double.NaN : (double) bothMet / requests;
    }

    /** Sum of two attainments' counts (the percentiles are the larger of the two: an upper bound, for totals). */
    public Attainment plus(Attainment o) {
      return new Attainment(requests + o.requests, ttftMet + o.ttftMet, tpotMet + o.tpotMet, bothMet + o.bothMet, refused + o.refused,
          failed + o.failed, cancelled + o.cancelled, Math.max(p95TtftNanos, o.p95TtftNanos), Math.max(p95TpotNanos, o.p95TpotNanos));
    }
  }

  private final Duration window;
  private final int maxPerModel;
  private final LongSupplier nowMillis;
  private final ConcurrentHashMap<String, ArrayDeque<Sample>> byModel = new ConcurrentHashMap<>();

  /** A window of {@link #DEFAULT_WINDOW} on the wall clock. */
  public SloWindow() {
    this(DEFAULT_WINDOW, DEFAULT_MAX_PER_MODEL, System::currentTimeMillis);
  }

  /**
   * @param window how far back ends count
   * @param maxPerModel most ends kept per model
   * @param nowMillis the wall clock in milliseconds (a fixed one in tests)
   * @throws IllegalArgumentException if {@code window} is not positive or {@code maxPerModel < 1}
   */
  public SloWindow(Duration window, int maxPerModel, LongSupplier nowMillis) {
    if (window.isNegative() || window.isZero()) throw new IllegalArgumentException("prism.http.dashboard.slo-window must be > 0, got " + window);
    if (maxPerModel < 1) throw new IllegalArgumentException("maxPerModel must be >= 1, got " + maxPerModel);
    this.window = window;
    this.maxPerModel = maxPerModel;
    this.nowMillis = nowMillis;
  }

  /**
   * The window of {@code prism.http.dashboard.slo-window} on the wall clock.
   *
   * @throws IllegalArgumentException naming the key if it is not positive
   */
  public static SloWindow from(com.typesafe.config.Config root) {
    return new SloWindow(root.getDuration("prism.http.dashboard.slo-window"), DEFAULT_MAX_PER_MODEL, System::currentTimeMillis);
  }

  /** How far back ends count. */
  public Duration window() {
    return window;
  }

  /**
   * A request of {@code model} was answered completely.
   *
   * @param ttftNanos from its arrival to its first token, -1 if it produced no token
   * @param tpotNanos mean gap after the first token, -1 with fewer than two tokens (meets TPOT trivially)
   */
  public void served(String model, long ttftNanos, long tpotNanos) {
    record(model, new Sample(nowMillis.getAsLong(), End.SERVED, ttftNanos, tpotNanos));
  }

  /** A request of {@code model} was refused before it started; only capacity refusals (see the class comment) are recorded. */
  public void refused(String model, Rejection.Kind kind) {
    if (countsAgainstSlo(kind)) record(model, new Sample(nowMillis.getAsLong(), End.REFUSED, -1, -1));
  }

  /** A request of {@code model} failed after it started. */
  public void failed(String model) {
    record(model, new Sample(nowMillis.getAsLong(), End.FAILED, -1, -1));
  }

  /** A request of {@code model} was cancelled. */
  public void cancelled(String model) {
    record(model, new Sample(nowMillis.getAsLong(), End.CANCELLED, -1, -1));
  }

  /** Whether a refusal of {@code kind} is the server's shortfall (it counts as a miss), not the client's error. */
  static boolean countsAgainstSlo(Rejection.Kind kind) {
    return switch (kind) {
      case OVERLOADED, SLO_UNATTAINABLE, UNAVAILABLE, INTERNAL -> true;
      case MODEL_NOT_FOUND, INVALID_REQUEST, CONTEXT_LENGTH_EXCEEDED -> false;
    };
  }

  private void record(String model, Sample s) {
    if (model == null || model.isEmpty()) return;
    while (true) {
      ArrayDeque<Sample> q = byModel.get(model);
      if (q == null) {
        if (byModel.size() >= MAX_MODELS) {
          models(); // forgets the models with nothing left in the window
          if (byModel.size() >= MAX_MODELS) return;
        }
        q = byModel.computeIfAbsent(model, m -> new ArrayDeque<>());
      }
      synchronized (q) {
        if (byModel.get(model) != q) continue; // models() forgot this one meanwhile (under its lock): use the new one
        q.addLast(s);
        while (q.size() > maxPerModel) q.removeFirst();
        prune(q, s.endMillis());
        return;
      }
    }
  }

  private void prune(ArrayDeque<Sample> q, long now) {
    long oldest = now - window.toMillis();
    while (!q.isEmpty() && q.peekFirst().endMillis() < oldest) q.removeFirst();
  }

  /** Models with at least one end in the window, sorted. */
  public List<String> models() {
    long now = nowMillis.getAsLong();
    List<String> out = new ArrayList<>();
    for (Iterator<java.util.Map.Entry<String, ArrayDeque<Sample>>> it = byModel.entrySet().iterator(); it.hasNext(); ) {
      java.util.Map.Entry<String, ArrayDeque<Sample>> e = it.next();
      ArrayDeque<Sample> q = e.getValue();
      synchronized (q) {
        prune(q, now);
        if (q.isEmpty()) {
          byModel.remove(e.getKey(), q); // a concurrent record re-creates it
        } else {
          out.add(e.getKey());
        }
      }
    }
    out.sort(null);
    return out;
  }

  /**
   * {@code model}'s attainment over the window against the given SLOs.
   *
   * @throws IllegalArgumentException if an SLO is not positive
   */
  public Attainment attainment(String model, Duration ttftSlo, Duration tpotSlo) {
    if (ttftSlo.isNegative() || ttftSlo.isZero() || tpotSlo.isNegative() || tpotSlo.isZero()) {
      throw new IllegalArgumentException("SLOs must be > 0, got TTFT " + ttftSlo + ", TPOT " + tpotSlo + " for " + model);
    }
    ArrayDeque<Sample> q = byModel.get(model);
    if (q == null) return Attainment.EMPTY;
    Sample[] samples;
    synchronized (q) {
      prune(q, nowMillis.getAsLong());
      samples = q.toArray(new Sample[0]);
    }
    long ttftLimit = ttftSlo.toNanos();
    long tpotLimit = tpotSlo.toNanos();
    int requests = 0, ttftMet = 0, tpotMet = 0, both = 0, refused = 0, failed = 0, cancelled = 0;
    long[] ttfts = new long[samples.length];
    long[] tpots = new long[samples.length];
    int nTtft = 0, nTpot = 0;
    for (Sample s : samples) {
      if (s.ttftNanos() >= 0) ttfts[nTtft++] = s.ttftNanos();
      switch (s.end()) {
        case CANCELLED -> cancelled++;
        case REFUSED -> {
          requests++;
          refused++;
        }
        case FAILED -> {
          requests++;
          failed++;
        }
        case SERVED -> {
          requests++;
          boolean ttftOk = s.ttftNanos() >= 0 && s.ttftNanos() <= ttftLimit;
          boolean tpotOk = s.tpotNanos() < 0 || s.tpotNanos() <= tpotLimit;
          if (s.tpotNanos() >= 0) tpots[nTpot++] = s.tpotNanos();
          if (ttftOk) ttftMet++;
          if (tpotOk) tpotMet++;
          if (ttftOk && tpotOk) both++;
        }
      }
    }
    return new Attainment(requests, ttftMet, tpotMet, both, refused, failed, cancelled, p95(ttfts, nTtft), p95(tpots, nTpot));
  }

  /** The nearest-rank 95th percentile of the first {@code n} values, -1 if none. */
  static long p95(long[] values, int n) {
    if (n == 0) return -1;
    long[] v = Arrays.copyOf(values, n);
    Arrays.sort(v);
    return v[Math.min(n - 1, (int) Math.ceil(0.95 * n) - 1)];
  }
}
