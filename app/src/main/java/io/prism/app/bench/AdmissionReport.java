package io.prism.app.bench;

import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The outcome of one admission run, from what the clients saw: requests sent; admitted (HTTP 200
 * and a stream); rejected by reason (the error envelope's {@code code}: {@code slo_unattainable}
 * and any other 503), 429s; admitted requests that failed later; of the admitted, how many got
 * their first token within the TTFT SLO; goodput (requests that completed normally with TTFT within
 * the SLO, per second of the run: first request sent to last response ended); TTFT p50 / p99 of the
 * admitted requests. Immutable.
 *
 * @param label the run's name in the table
 * @param sent requests sent
 * @param admitted HTTP 200 with a stream
 * @param rejected rejected requests per reason ({@code 503 slo_unattainable}, {@code 429 queue_full}, ...)
 * @param failedAfterAdmission admitted requests whose stream ended with an error
 * @param errors requests with no HTTP status (connection failure or no end in time) or another status
 * @param onTime admitted requests with TTFT within the SLO that completed normally
 * @param wallSeconds first request sent to last response ended
 * @param ttftMillis TTFTs of the admitted requests that got a first token, sorted
 */
record AdmissionReport(String label, int sent, int admitted, Map<String, Integer> rejected, int failedAfterAdmission, int errors, int onTime,
    double wallSeconds, double[] ttftMillis) {

  /** Classifies {@code outcomes} against {@code ttftSlo}. */
  static AdmissionReport of(String label, List<OpenLoopLoad.Outcome> outcomes, Duration ttftSlo) {
    int admitted = 0, failed = 0, errors = 0, onTime = 0;
    Map<String, Integer> rejected = new TreeMap<>();
    List<Double> ttfts = new ArrayList<>();
    long first = Long.MAX_VALUE, last = Long.MIN_VALUE;
    long slo = ttftSlo.toNanos();
    for (OpenLoopLoad.Outcome o : outcomes) {
      SseClient.Result r = o.result();
      first = Math.min(first, r.sentNanos());
      last = Math.max(last, r.endNanos());
      if (r.status() == 200) {
        admitted++;
        long ttft = r.firstTokenNanos() < 0 ? -1 : r.firstTokenNanos() - r.sentNanos();
        if (ttft >= 0) ttfts.add(ttft / 1e6);
        if (!r.ok()) failed++;
        else if (ttft <= slo) onTime++;
      } else if (r.status() == 429 || r.status() == 503) {
        rejected.merge(r.status() + " " + errorCode(r.error()), 1, Integer::sum);
      } else {
        errors++;
      }
    }
    double[] sorted = ttfts.stream().mapToDouble(Double::doubleValue).sorted().toArray();
    return new AdmissionReport(label, outcomes.size(), admitted, rejected, failed, errors, onTime,
        outcomes.isEmpty() ? 0 : (last - first) / 1e9, sorted);
  }

  /** The {@code "code"} of an OpenAI error envelope in {@code body}, or {@code "other"}. */
  static String errorCode(String body) {
    if (body == null) return "other";
    String key = "\"code\":\"";
    int i = body.indexOf(key);
    int end = i < 0 ? -1 : body.indexOf('"', i + key.length());
    return end < 0 ? "other" : body.substring(i + key.length(), end);
  }

  /** Rejections with this reason key (e.g. {@code "503 slo_unattainable"}). */
  int rejected(String reason) {
    return rejected.getOrDefault(reason, 0);
  }

  /** Requests that ended one way or another (all of them, once {@link OpenLoopLoad#run} returned). */
  int ended() {
    int r = 0;
    for (int n : rejected.values()) r += n;
    return admitted + r + errors;
  }

  /** Percentage of admitted requests that completed with TTFT within the SLO (NaN if none admitted). */
  double onTimePercent() {
    return admitted == 0 ? Double.NaN : 100.0 * onTime / admitted;
  }

  /** Requests completed within the SLO per second of the run. */
  double goodput() {
    return wallSeconds <= 0 ? 0 : onTime / wallSeconds;
  }

  /** The {@code q}-quantile (0..1, nearest rank) of the admitted requests' TTFT in ms, NaN if none. */
  double ttftQuantileMillis(double q) {
    if (ttftMillis.length == 0) return Double.NaN;
    int i = (int) Math.ceil(q * ttftMillis.length) - 1;
    return ttftMillis[Math.max(0, Math.min(ttftMillis.length - 1, i))];
  }

  /** Prints the table header. */
  static void header(PrintWriter out) {
    out.printf("%-9s %6s %8s %9s %6s %9s %6s %8s %9s %9s %9s %9s%n", "admission", "sent", "admitted", "rej:slo", "429", "rej:other",
        "errors", "on-time", "goodput", "TTFT p50", "TTFT p99", "ended");
    out.printf("%-9s %6s %8s %9s %6s %9s %6s %8s %9s %9s %9s %9s%n", "", "", "", "503", "", "", "", "% adm.", "req/s", "ms", "ms", "");
  }

  /** Prints this run's row. */
  void print(PrintWriter out) {
    int other = 0;
    for (Map.Entry<String, Integer> e : rejected.entrySet()) {
      if (!e.getKey().equals("503 slo_unattainable") && !e.getKey().startsWith("429")) other += e.getValue();
    }
    int tooMany = 0;
    for (Map.Entry<String, Integer> e : rejected.entrySet()) if (e.getKey().startsWith("429")) tooMany += e.getValue();
    out.printf("%-9s %6d %8d %9d %6d %9d %6d %8.1f %9.2f %9.1f %9.1f %4d/%-4d%n", label, sent, admitted, rejected("503 slo_unattainable"),
        tooMany, other, errors + failedAfterAdmission, onTimePercent(), goodput(), ttftQuantileMillis(0.5), ttftQuantileMillis(0.99),
        ended(), sent);
  }

  @Override
  public String toString() {
    return label + ": sent " + sent + ", admitted " + admitted + ", rejected " + rejected + ", failed after admission " + failedAfterAdmission
        + ", errors " + errors + ", on time " + onTime + ", TTFT ms " + Arrays.toString(ttftMillis);
  }
}
