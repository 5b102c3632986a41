package io.prism.app.bench;

import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.policy.Slo;
import io.prism.runtime.policy.sim.GpuProfile;
import io.prism.runtime.policy.sim.ModelProfile;
import io.prism.runtime.policy.sim.Workload;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * SLOs as the paper sets them, measured on the real system: each model shape alone on a dedicated
 * device (a fresh in-process server with one device and that one model, nothing evicted, nothing
 * refused), serving its own requests from the workload one at a time (the lowest rate); its SLO is
 * {@code sloScale} x its P95 TTFT and P95 TPOT. Models of one shape share the shape's SLO (they are
 * the same computation). Against a running server ({@code --url}), each model is measured there the
 * same way, alone only if nothing else loads that server.
 *
 * <p>The same measurements calibrate the simulator's cost model ({@link #gpuProfile}).
 *
 * <p>Threading: call from one thread; it blocks for the measurement.
 */
final class ReplayCalibration {
  /**
   * What one shape measured alone.
   *
   * @param source the model source
   * @param profile its cost-model view
   * @param p95TtftNanos P95 TTFT
   * @param p95TpotNanos P95 TPOT
   * @param medianTtftNanos median TTFT
   * @param medianTpotNanos median TPOT
   * @param medianPromptTokens median prompt length of the measured requests
   */
  record Measured(String source, ModelProfile profile, long p95TtftNanos, long p95TpotNanos, long medianTtftNanos, long medianTpotNanos,
      int medianPromptTokens) {}

  /**
   * The calibration's outcome.
   *
   * @param slos model id -> SLO
   * @param measured per shape
   */
  record Result(Map<String, Slo> slos, List<Measured> measured) {}

  /** Requests sent first and not measured. */
  private static final int WARM_UP = 2;

  private ReplayCalibration() {}

  /**
   * Measures every shape of {@code built} on its own in-process server.
   *
   * @param requests requests per shape, {@code >= 2}
   * @throws IllegalStateException if a shape's requests fail
   */
  static Result dedicated(ReplayWorkload.Built built, ReplayServer.Rig rig, double sloScale, int requests, Duration timeout) throws Exception {
    Map<String, Measured> bySource = new LinkedHashMap<>();
    for (Workload.SimModel m : built.workload().models()) {
      String source = built.sources().get(m.modelId());
      if (bySource.containsKey(source)) continue;
      ReplayServer.Rig one = new ReplayServer.Rig(rig.backend(), 1, rig.gpuMemory(), rig.pageSize(), rig.threads(), rig.idleEviction());
      Slo loose = new Slo(Duration.ofHours(1), Duration.ofHours(1));
      try (ReplayServer s = ReplayServer.start(ReplayPolicy.named("muxserve++"), one, Map.of(m.modelId(), source), Map.of(m.modelId(), loose))) {
        bySource.put(source, measure(s.address(), m, source, built, requests, timeout));
      }
    }
    return result(built, bySource, sloScale);
  }

  /** Measures each model of {@code built} on a running server at {@code address}, one request at a time. */
  static Result remote(InetSocketAddress address, ReplayWorkload.Built built, double sloScale, int requests, Duration timeout) {
    Map<String, Measured> bySource = new LinkedHashMap<>();
    for (Workload.SimModel m : built.workload().models()) {
      String source = built.sources().get(m.modelId());
      if (!bySource.containsKey(source)) bySource.put(source, measure(address, m, source, built, requests, timeout));
    }
    return result(built, bySource, sloScale);
  }

  private static Result result(ReplayWorkload.Built built, Map<String, Measured> bySource, double sloScale) {
    if (sloScale <= 0) throw new IllegalArgumentException("--slo-scale must be > 0, got " + sloScale);
    Map<String, Slo> slos = new LinkedHashMap<>();
    for (Workload.SimModel m : built.workload().models()) {
      Measured x = bySource.get(built.sources().get(m.modelId()));
      slos.put(m.modelId(), new Slo(Duration.ofNanos(Math.max(1_000_000, Math.round(x.p95TtftNanos() * sloScale))),
          Duration.ofNanos(Math.max(1_000_000, Math.round(x.p95TpotNanos() * sloScale)))));
    }
    return new Result(slos, List.copyOf(bySource.values()));
  }

  /** Sends {@code requests} of the shape's own lengths (its models' arrivals, in turn), one at a time. */
  private static Measured measure(InetSocketAddress address, Workload.SimModel model, String source, ReplayWorkload.Built built, int requests,
      Duration timeout) {
    if (requests < 2) throw new IllegalArgumentException("--calibration-requests must be >= 2, got " + requests);
    List<Workload.Arrival> own = new ArrayList<>();
    for (Workload.Arrival a : built.workload().arrivals()) if (source.equals(built.sources().get(a.modelId()))) own.add(a);
    ModelConfig c = built.configs().get(model.modelId());
    List<Long> ttft = new ArrayList<>(), tpot = new ArrayList<>();
    List<Integer> prompts = new ArrayList<>();
    try (SseClient client = new SseClient(address, (int) timeout.toMillis())) {
      for (int i = -WARM_UP; i < requests; i++) { // the first WARM_UP are not counted (JIT, first pages)
        Workload.Arrival a = own.isEmpty() ? null : own.get(Math.floorMod(i, own.size()));
        int prompt = a == null ? Math.min(64, c.maxSeqLen() / 2) : a.promptTokens();
        int output = a == null ? Math.min(32, c.maxSeqLen() / 4) : Math.max(2, a.outputTokens());
        output = Math.min(output, c.maxSeqLen() - prompt);
        SseClient.Result r = client.post("/v1/completions", HttpLoad.body(model.modelId(), Prompts.random(c.vocabSize(), 1, prompt, 7_777L + i), output));
        if (!r.ok()) throw new IllegalStateException("calibration request " + i + " of " + source + " failed: status " + r.status() + ", " + r.error());
        if (i < 0) continue;
        ttft.add(r.firstTokenNanos() - r.sentNanos());
        if (r.completionTokens() > 1) tpot.add((r.lastTokenNanos() - r.firstTokenNanos()) / (r.completionTokens() - 1));
        prompts.add(prompt);
      }
    }
    if (tpot.isEmpty()) tpot.add(1_000_000L);
    return new Measured(source, model.profile(), quantile(ttft, 0.95), quantile(tpot, 0.95), quantile(ttft, 0.5), quantile(tpot, 0.5),
        (int) (long) quantile(prompts.stream().map(Integer::longValue).toList(), 0.5));
  }

  private static long quantile(List<Long> values, double q) {
    long[] a = values.stream().mapToLong(Long::longValue).toArray();
    Arrays.sort(a);
    int i = (int) Math.ceil(q * a.length) - 1;
    return a[Math.max(0, Math.min(a.length - 1, i))];
  }

  /**
   * The simulator's cost model fitted to the measurements (see {@link GpuProfile}): the median
   * decode step of each shape against its weight bytes, a least-squares line {@code step = weights /
   * hbm + overhead} (one shape: overhead a fifth of its step); the median TTFT minus one step
   * against {@code 2 x params x median prompt}, a line through the origin giving the prefill
   * FLOP/s. Activation: {@code hostToDeviceBytesPerSecond} and {@code activationOverhead} as given
   * (not measured here). The cost model is a GPU roofline (decode bound by weight reads); on a CPU,
   * where a decode step grows with the batch, it underestimates batched steps.
   *
   * @param memoryBudgetBytes each device's budget
   */
  static GpuProfile gpuProfile(String name, List<Measured> measured, long memoryBudgetBytes, double hostToDeviceBytesPerSecond,
      Duration activationOverhead) {
    int k = measured.size();
    double mw = 0, mt = 0;
    for (Measured m : measured) {
      mw += m.profile().weightBytes() / (double) k;
      mt += m.medianTpotNanos() / 1e9 / k;
    }
    double sxy = 0, sxx = 0;
    for (Measured m : measured) {
      double dx = m.profile().weightBytes() - mw;
      sxy += dx * (m.medianTpotNanos() / 1e9 - mt);
      sxx += dx * dx;
    }
    double secondsPerByte = sxx > 0 && sxy > 0 ? sxy / sxx : 0;
    double overhead = secondsPerByte > 0 ? mt - secondsPerByte * mw : mt / 5;
    overhead = Math.max(1e-5, Math.min(overhead, mt));
    if (secondsPerByte <= 0) secondsPerByte = Math.max(1e-15, (mt - overhead) / Math.max(1, mw));
    double num = 0, den = 0;
    for (Measured m : measured) {
      double work = 2 * m.profile().params() * Math.max(1, m.medianPromptTokens());
      double prefill = Math.max(1e-6, (m.medianTtftNanos() - m.medianTpotNanos()) / 1e9);
      num += work * prefill;
      den += work * work;
    }
    double secondsPerFlop = num > 0 && den > 0 ? num / den : 1e-12;
    return new GpuProfile(name, memoryBudgetBytes, 1 / secondsPerByte, 1 / secondsPerFlop, hostToDeviceBytesPerSecond, Math.round(overhead * 1e9),
        activationOverhead.toNanos());
  }
}
