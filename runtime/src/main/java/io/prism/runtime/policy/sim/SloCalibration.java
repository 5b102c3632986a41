package io.prism.runtime.policy.sim;

import io.prism.runtime.policy.Slo;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * SLOs the way the paper sets them: each model's P95 TTFT and P95 TPOT when it runs alone on a
 * dedicated GPU under its own traffic, times a scale factor. A model without requests gets the
 * cost model's prefill time of 2048 tokens and decode step at 1024 tokens of context instead.
 */
public final class SloCalibration {
  private static final Slo PLACEHOLDER = new Slo(Duration.ofDays(1), Duration.ofDays(1));

  private SloCalibration() {}

  /**
   * @param ttftScale TTFT SLO = ttftScale x dedicated P95 TTFT, {@code > 0}
   * @param tpotScale TPOT SLO = tpotScale x dedicated P95 TPOT, {@code > 0}
   * @return model id -> SLO, in workload order
   */
  public static Map<String, Slo> dedicated(Workload workload, GpuProfile gpu, double ttftScale, double tpotScale) {
    if (ttftScale <= 0 || tpotScale <= 0) throw new IllegalArgumentException("SLO scales must be > 0, got " + ttftScale + ", " + tpotScale);
    Map<String, Slo> out = new LinkedHashMap<>();
    for (Workload.SimModel m : workload.models()) {
      Workload alone = workload.only(m.modelId());
      SimResult r = Simulator.run(alone, Map.of(m.modelId(), PLACEHOLDER), SimPolicy.MUXSERVE_PLUS_PLUS, gpu, 1);
      SimResult.ModelStats s = r.models().get(0);
      long ttft = s.p95TtftNanos() > 0 ? s.p95TtftNanos() : gpu.prefillNanos(m.profile(), 2048);
      long tpot = s.p95TpotNanos() > 0 ? s.p95TpotNanos() : gpu.decodeStepNanos(m.profile(), 1024);
      out.put(m.modelId(), new Slo(Duration.ofNanos(Math.max(1_000_000, Math.round(ttft * ttftScale))),
          Duration.ofNanos(Math.max(1_000_000, Math.round(tpot * tpotScale)))));
    }
    return out;
  }
}
