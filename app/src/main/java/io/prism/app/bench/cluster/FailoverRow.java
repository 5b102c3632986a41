package io.prism.app.bench.cluster;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * One scenario's row of {@code prism bench failover}, computed from the load's records.
 *
 * <p>Definitions (times in seconds from the event: the kill, the SIGTERM, the first SIGTERM of a
 * rolling restart): the <em>affected</em> models are those the catalog placed on the event's node
 * just before it (all models for a rolling restart); {@code firstOkSeconds} is when the first
 * request for an affected model sent after the event ended successfully; {@code steadySeconds} is
 * when the first request was sent after which every request for an affected model succeeded (0 if
 * none sent after the event failed; NaN if the last one failed or none was sent); {@code
 * unaffectedFailed} counts failed and hung requests for the other models (-1 for a rolling restart,
 * where every model is affected; the table then shows "-" for it and for the recovery columns).
 *
 * @param scenario the scenario's name
 * @param target what the event hit (node and role)
 * @param sent requests sent
 * @param ok requests that succeeded (on the first attempt or on a client retry)
 * @param retried of those, requests that succeeded only on a client retry (after a retryable 503 or a lost connection)
 * @param failed requests that failed (error status, error frame, cut stream, connection failure)
 * @param hung requests with no complete answer within the client's bound
 * @param unaffectedFailed failed plus hung requests for models not on the event's node, -1 if not applicable
 * @param firstOkSeconds see above, NaN if none
 * @param steadySeconds see above, NaN if never
 * @param catalogIntact whether every registered model was listed by {@code /v1/models} and served a request at the end
 * @param notes scenario-specific facts (exit time after SIGTERM, rejoin), empty if none
 * @param failures distinct failure details (status and body excerpt) with their counts
 */
public record FailoverRow(String scenario, String target, int sent, int ok, int retried, int failed, int hung, int unaffectedFailed, double firstOkSeconds,
    double steadySeconds, boolean catalogIntact, String notes, Map<String, Integer> failures) {

  /**
   * Computes a row.
   *
   * @param affected the affected model ids
   * @param allAffected whether every model counts as affected (rolling restart): no unaffected column
   * @param eventNanos {@link System#nanoTime()} of the event
   */
  public static FailoverRow of(String scenario, String target, List<RequestRecord> records, Set<String> affected, boolean allAffected,
      long eventNanos, boolean catalogIntact, String notes) {
    int ok = 0, retried = 0, failed = 0, hung = 0, unaffected = 0;
    Map<String, Integer> failures = new TreeMap<>();
    for (RequestRecord r : records) {
      switch (r.outcome()) {
        case OK -> {
          ok++;
          if (r.attempts() > 1) retried++;
        }
        case FAILED -> failed++;
        case HUNG -> hung++;
      }
      if (!r.ok()) {
        if (!affected.contains(r.model())) unaffected++;
        failures.merge(key(r), 1, Integer::sum);
      }
    }
    List<RequestRecord> after = new ArrayList<>();
    for (RequestRecord r : records) if (affected.contains(r.model()) && r.sentNanos() >= eventNanos) after.add(r);
    after.sort(Comparator.comparingLong(RequestRecord::sentNanos));
    double firstOk = after.stream().filter(RequestRecord::ok).mapToDouble(r -> r.endSecondsAfter(eventNanos)).min().orElse(Double.NaN);
    int lastBad = -1;
    for (int i = 0; i < after.size(); i++) if (!after.get(i).ok()) lastBad = i;
    double steady;
    if (after.isEmpty() || lastBad == after.size() - 1) steady = Double.NaN;
    else if (lastBad < 0) steady = 0;
    else steady = after.get(lastBad + 1).sentSecondsAfter(eventNanos);
    return new FailoverRow(scenario, target, records.size(), ok, retried, failed, hung, allAffected ? -1 : unaffected, firstOk, steady, catalogIntact,
        notes, failures);
  }

  private static String key(RequestRecord r) {
    String d = r.detail().replaceAll("\\d+(\\.\\d+)? ?(ms|s)\\b", "N$2").replaceAll("\"id\":\"[^\"]*\"", "\"id\":...")
        .replaceAll("cmpl-[0-9a-f]+", "cmpl-*");
    if (d.length() > 160) d = d.substring(0, 160) + "...";
    return r.outcome() + " " + (r.status() < 0 ? "" : r.status() + " ") + d;
  }

  /** Header line of the table. */
  public static String header() {
    return String.format(Locale.ROOT, "%-20s %-18s %6s %6s %7s %6s %6s %10s %10s %9s %8s  %s", "scenario", "target", "sent", "ok", "retried", "failed", "hung",
        "unaff_fail", "first_ok_s", "steady_s", "catalog", "notes");
  }

  /** This row, aligned with {@link #header()}. */
  public String line() {
    return String.format(Locale.ROOT, "%-20s %-18s %6d %6d %7d %6d %6d %10s %10s %9s %8s  %s", scenario, target, sent, ok, retried, failed, hung,
        unaffectedFailed < 0 ? "-" : String.valueOf(unaffectedFailed), unaffectedFailed < 0 ? "-" : seconds(firstOkSeconds),
        unaffectedFailed < 0 ? "-" : seconds(steadySeconds),
        catalogIntact ? "intact" : "BROKEN", notes);
  }

  private static String seconds(double s) {
    return Double.isNaN(s) ? "never" : String.format(Locale.ROOT, "%.1f", s);
  }
}
