package io.prism.runtime.policy.sim;

import io.prism.runtime.policy.Slo;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Outcome of one simulation run: per-model SLO attainment and goodput.
 *
 * <p>A request <i>meets TTFT</i> if its first token came within the TTFT SLO of its arrival; it
 * <i>meets TPOT</i> if it finished and its mean gap after the first token is within the TPOT SLO
 * (a one-token output meets TPOT trivially). Rejected and unfinished requests meet neither.
 * <b>SLO attainment</b> is the fraction meeting both; <b>goodput</b> is requests meeting both per
 * second of the arrival period.
 *
 * @param policy the system's name
 * @param gpus GPUs simulated
 * @param models per-model statistics, in workload order
 * @param durationNanos arrival period
 * @param counters event counts
 */
public record SimResult(String policy, int gpus, List<ModelStats> models, long durationNanos, SimCounters counters) {
  /**
   * One model's statistics.
   *
   * @param modelId the model
   * @param slo its SLO
   * @param requests requests that arrived
   * @param ttftMet requests that met the TTFT SLO
   * @param tpotMet requests that met the TPOT SLO
   * @param bothMet requests that met both
   * @param rejected requests refused
   * @param unfinished requests still in flight when the simulation stopped
   * @param p95TtftNanos 95th percentile TTFT of requests that got a first token (0 if none)
   * @param p95TpotNanos 95th percentile TPOT of finished requests with more than one output token (0 if none)
   */
  public record ModelStats(String modelId, Slo slo, int requests, int ttftMet, int tpotMet, int bothMet, int rejected, int unfinished,
      long p95TtftNanos, long p95TpotNanos) {}

  public SimResult {
    models = List.copyOf(models);
  }

  static SimResult of(String policy, int gpus, Collection<SimModelState> models, List<SimRequest> requests, long durationNanos,
      SimCounters counters) {
    Map<SimModelState, List<SimRequest>> byModel = new HashMap<>();
    for (SimRequest r : requests) byModel.computeIfAbsent(r.model, k -> new ArrayList<>()).add(r);
    List<ModelStats> stats = new ArrayList<>();
    for (SimModelState m : models) {
      List<SimRequest> rs = byModel.getOrDefault(m, List.of());
      long ttftSlo = m.slo.ttft().toNanos();
      long tpotSlo = m.slo.tpot().toNanos();
      int ttftMet = 0, tpotMet = 0, both = 0, rejected = 0, unfinished = 0;
      List<Long> ttfts = new ArrayList<>();
      List<Long> tpots = new ArrayList<>();
      for (SimRequest r : rs) {
        if (r.rejected) {
          rejected++;
          continue;
        }
        if (!r.done()) unfinished++;
        boolean ttftOk = false;
        if (r.firstTokenNanos >= 0) {
          long ttft = r.firstTokenNanos - r.arrival.arrivalNanos();
          ttfts.add(ttft);
          ttftOk = ttft <= ttftSlo;
        }
        boolean tpotOk = false;
        if (r.done()) {
          int gaps = r.arrival.outputTokens() - 1;
          if (gaps <= 0) {
            tpotOk = true;
          } else {
            long tpot = (r.finishNanos - r.firstTokenNanos) / gaps;
            tpots.add(tpot);
            tpotOk = tpot <= tpotSlo;
          }
        }
        if (ttftOk) ttftMet++;
        if (tpotOk) tpotMet++;
        if (ttftOk && tpotOk) both++;
      }
      stats.add(new ModelStats(m.id(), m.slo, rs.size(), ttftMet, tpotMet, both, rejected, unfinished, p95(ttfts), p95(tpots)));
    }
    return new SimResult(policy, gpus, stats, durationNanos, counters);
  }

  private static long p95(List<Long> values) {
    if (values.isEmpty()) return 0;
    long[] v = values.stream().mapToLong(Long::longValue).toArray();
    Arrays.sort(v);
    return v[Math.min(v.length - 1, (int) Math.ceil(0.95 * v.length) - 1)];
  }

  /** Requests of all models. */
  public int requests() {
    return models.stream().mapToInt(ModelStats::requests).sum();
  }

  /** Fraction of all requests meeting both SLOs (1 when there were none). */
  public double attainment() {
    int n = requests();
    return n == 0 ? 1 : (double) models.stream().mapToInt(ModelStats::bothMet).sum() / n;
  }

  /** Fraction of all requests meeting the TTFT SLO. */
  public double ttftAttainment() {
    int n = requests();
    return n == 0 ? 1 : (double) models.stream().mapToInt(ModelStats::ttftMet).sum() / n;
  }

  /** Fraction of all requests meeting the TPOT SLO. */
  public double tpotAttainment() {
    int n = requests();
    return n == 0 ? 1 : (double) models.stream().mapToInt(ModelStats::tpotMet).sum() / n;
  }

  /** Requests per second meeting both SLOs. */
  public double goodput() {
    return models.stream().mapToInt(ModelStats::bothMet).sum() / (durationNanos / 1e9);
  }
}
