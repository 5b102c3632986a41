package io.prism.app.bench;

import java.io.PrintWriter;
import java.util.Arrays;
import java.util.List;

/**
 * One replay run summed up, the way the paper reports it: over every request sent (a rejected,
 * failed or timed-out request misses both SLOs), the fraction that met the TTFT SLO, the TPOT SLO
 * and both; goodput (requests that met both per second of the arrival window); GPU-seconds (per
 * GPU, the seconds during which it held any model's weights, from the memory samples). Immutable.
 *
 * @param policy the policy's name
 * @param rateScale the run's rate scale
 * @param requests requests sent
 * @param ok ended {@code OK}
 * @param rejected ended {@code REJECTED}
 * @param failed ended {@code FAILED}
 * @param timedOut ended {@code TIMED_OUT}
 * @param ttftAttainment fraction of requests that met the TTFT SLO, in [0, 1] (1 when there is none)
 * @param tpotAttainment fraction that met the TPOT SLO
 * @param attainment fraction that met both
 * @param goodput requests that met both per second of the arrival window
 * @param gpuSeconds GPU-seconds of the run
 * @param ttftP50Millis median TTFT of the requests that got a token, ms (NaN if none)
 * @param ttftP99Millis 99th percentile of it
 */
public record ReplaySummary(String policy, double rateScale, int requests, int ok, int rejected, int failed, int timedOut, double ttftAttainment,
    double tpotAttainment, double attainment, double goodput, double gpuSeconds, double ttftP50Millis, double ttftP99Millis) {

  /**
   * Sums up {@code records}.
   *
   * @param windowSeconds the arrival window, {@code > 0}
   * @param gpuSeconds GPU-seconds measured beside the run
   * @throws IllegalArgumentException if {@code windowSeconds <= 0}
   */
  public static ReplaySummary of(String policy, double rateScale, List<ReplayRecord> records, double windowSeconds, double gpuSeconds) {
    if (windowSeconds <= 0) throw new IllegalArgumentException("windowSeconds must be > 0, got " + windowSeconds);
    int ok = 0, rejected = 0, failed = 0, timedOut = 0, ttft = 0, tpot = 0, both = 0;
    double[] ttfts = new double[records.size()];
    int t = 0;
    for (ReplayRecord r : records) {
      switch (r.outcome()) {
        case OK -> ok++;
        case REJECTED -> rejected++;
        case FAILED -> failed++;
        case TIMED_OUT -> timedOut++;
      }
      if (r.ttftMet()) ttft++;
      if (r.tpotMet()) tpot++;
      if (r.sloMet()) both++;
      if (r.ttftNanos() >= 0) ttfts[t++] = r.ttftNanos() / 1e6;
    }
    double[] sorted = Arrays.copyOf(ttfts, t);
    Arrays.sort(sorted);
    int n = records.size();
    return new ReplaySummary(policy, rateScale, n, ok, rejected, failed, timedOut, frac(ttft, n), frac(tpot, n), frac(both, n), both / windowSeconds,
        gpuSeconds, quantile(sorted, 0.5), quantile(sorted, 0.99));
  }

  private static double frac(int k, int n) {
    return n == 0 ? 1.0 : (double) k / n;
  }

  /** Nearest-rank quantile {@code q} in [0, 1] of sorted values; NaN if empty. */
  static double quantile(double[] sorted, double q) {
    if (sorted.length == 0) return Double.NaN;
    int i = (int) Math.ceil(q * sorted.length) - 1;
    return sorted[Math.max(0, Math.min(sorted.length - 1, i))];
  }

  /** Prints the table header. */
  public static void header(PrintWriter out) {
    out.printf("%-19s %6s %6s %6s %5s %5s %5s %7s %7s %7s %8s %8s %9s %9s%n", "policy", "scale", "sent", "ok", "rej", "fail", "t/o", "TTFT%",
        "TPOT%", "both%", "goodput", "GPU-s", "TTFTp50", "TTFTp99");
  }

  /** Prints this run's row (attainments in percent, goodput in req/s, TTFT in ms). */
  public void print(PrintWriter out) {
    out.printf(java.util.Locale.ROOT, "%-19s %6.2f %6d %6d %5d %5d %5d %7.2f %7.2f %7.2f %8.2f %8.1f %9.1f %9.1f%n", policy, rateScale, requests, ok,
        rejected, failed, timedOut, 100 * ttftAttainment, 100 * tpotAttainment, 100 * attainment, goodput, gpuSeconds, ttftP50Millis, ttftP99Millis);
  }
}
