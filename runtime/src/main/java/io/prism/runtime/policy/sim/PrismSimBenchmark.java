package io.prism.runtime.policy.sim;

import io.prism.runtime.policy.MigrationBudget;
import io.prism.runtime.policy.Slo;
import java.time.Duration;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Prints SLO attainment against the number of GPUs for Prism (and its variants), MuxServe++, a static
 * partition, ServerlessLLM-like and QLM-like ({@link SimPolicy}) on
 * one trace-driven workload (the paper's claim to check: the same attainment with about half the
 * GPUs). Arguments are {@code key=value}; defaults in brackets:
 * <pre>
 *   models=8  rate=5 (requests/s, all models)  duration=600 (s)  seed=1  gpus=1,2,3,4,6,8
 *   ttftScale=5  tpotScale=5  zipf=1.0  on=60  off=150 (s)  compression=10  traces=(../shared/traces)
 *   verbose=false (true: per-model rows)  policies=(all; or names, comma-separated: Prism,Prism-unbounded)
 *   cooldown=600 (s)  perGpu=1  perRound=2 (Prism's migration budget, see MigrationBudget)
 *   replicas=2 (the Prism-replicas row: up to this many instances per model, added and removed by the
 *   server's ReplicaScaling, see SimReplicas; 1: no such row)
 *   noGuard=false (true: also Prism without the TPOT co-location guard, TpotColocation)
 * </pre>
 * Run: {@code java -cp runtime/target/classes io.prism.runtime.policy.sim.PrismSimBenchmark models=8 rate=5}.
 */
public final class PrismSimBenchmark {
  private static final List<ModelProfile> FLEET = List.of(ModelProfile.LLAMA_3_1_8B, ModelProfile.QWEN_2_5_14B,
      ModelProfile.LLAMA_3_1_8B, ModelProfile.LLAMA_3_2_3B);

  private PrismSimBenchmark() {}

  private static String summary(List<SimPolicy> policies, Map<String, Integer> fewest, int most) {
    List<String> out = new ArrayList<>();
    for (SimPolicy p : policies) out.add(p.name() + " " + (fewest.containsKey(p.name()) ? fewest.get(p.name()) : ">" + most));
    return String.join(", ", out);
  }

  private static double pct(int k, int n) {
    return n == 0 ? 100 : 100.0 * k / n;
  }

  /** Entry point; see the class comment for arguments. */
  public static void main(String[] args) {
    Map<String, String> a = new LinkedHashMap<>();
    for (String s : args) {
      int eq = s.indexOf('=');
      if (eq <= 0) throw new IllegalArgumentException("argument '" + s + "' is not key=value");
      a.put(s.substring(0, eq), s.substring(eq + 1));
    }
    Path traces = a.containsKey("traces") ? Path.of(a.get("traces")) : Traces.defaultDir();
    int numModels = Integer.parseInt(a.getOrDefault("models", "8"));
    Workload.Config config = new Workload.Config(FLEET, numModels, Double.parseDouble(a.getOrDefault("rate", "5")),
        Double.parseDouble(a.getOrDefault("duration", "600")), Double.parseDouble(a.getOrDefault("zipf", "1.0")),
        Double.parseDouble(a.getOrDefault("on", "60")), Double.parseDouble(a.getOrDefault("off", "150")),
        Double.parseDouble(a.getOrDefault("compression", "10")), Long.parseLong(a.getOrDefault("seed", "1")));
    int[] gpuCounts = Arrays.stream(a.getOrDefault("gpus", "1,2,3,4,6,8").split(",")).mapToInt(Integer::parseInt).toArray();
    double ttftScale = Double.parseDouble(a.getOrDefault("ttftScale", "5"));
    double tpotScale = Double.parseDouble(a.getOrDefault("tpotScale", "5"));
    boolean verbose = Boolean.parseBoolean(a.getOrDefault("verbose", "false"));

    Workload w = Workload.generate(config, Traces.readServeGenRates(traces.resolve(Traces.SERVEGEN_RATES)),
        Traces.readAzureLengths(traces.resolve(Traces.AZURE_CONV)), Traces.readAzureLengths(traces.resolve(Traces.AZURE_CODE)));
    GpuProfile gpu = GpuProfile.H100;
    Map<String, Slo> slos = SloCalibration.dedicated(w, gpu, ttftScale, tpotScale);

    System.out.printf(Locale.ROOT, "# workload: %d models, %d requests in %.0f s, seed %d; GPU %s; SLO = %.1fx/%.1fx dedicated P95 TTFT/TPOT%n",
        numModels, w.arrivals().size(), w.durationNanos() / 1e9, config.seed(), gpu.name(), ttftScale, tpotScale);
    System.out.println("# model                      weights_GB  req/s  tokens/s  TTFT_SLO_ms  TPOT_SLO_ms");
    for (Workload.SimModel m : w.models()) {
      Slo s = slos.get(m.modelId());
      System.out.printf(Locale.ROOT, "# %-26s %10.1f %6.2f %9.0f %12.0f %12.1f%n", m.modelId(), m.profile().weightBytes() / 1e9,
          m.meanRequestsPerSecond(), m.meanTokensPerSecond(), s.ttft().toNanos() / 1e6, s.tpot().toNanos() / 1e6);
    }
    SimPolicy d = SimPolicy.PRISM;
    MigrationBudget.Limits limits = new MigrationBudget.Limits(Duration.ofSeconds(Long.parseLong(a.getOrDefault("cooldown",
        Long.toString(d.migrationLimits().cooldown().toSeconds())))), Integer.parseInt(a.getOrDefault("perGpu",
        Integer.toString(d.migrationLimits().maxConcurrentPerGpu()))), Integer.parseInt(a.getOrDefault("perRound",
        Integer.toString(d.migrationLimits().maxPerRound()))));
    SimPolicy prism = new SimPolicy(d.name(), d.elasticKv(), d.idleEviction(), d.eagerEviction(), d.relocation(), d.deadlineAdmission(),
        d.slackPreemption(), d.idleThreshold(), d.tau(), d.relativeTau(), d.placementInterval(), limits, 1, d.tpotGuard(), d.maxResidentModels(),
        d.swapOverhead(), d.requestGroups());
    int replicas = Integer.parseInt(a.getOrDefault("replicas", "2"));
    List<SimPolicy> all = new ArrayList<>(List.of(prism, SimPolicy.PRISM_UNBOUNDED, SimPolicy.PRISM_EAGER));
    if (Boolean.parseBoolean(a.getOrDefault("noGuard", "false"))) all.add(prism.withTpotGuard(false).named("Prism-no-guard"));
    all.addAll(List.of(SimPolicy.MUXSERVE_PLUS_PLUS, SimPolicy.STATIC_PARTITION, SimPolicy.SERVERLESS_LLM, SimPolicy.QLM));
    if (replicas > 1) all.add(1, prism.withMaxReplicas("Prism-replicas", replicas));
    List<String> only = a.containsKey("policies") ? List.of(a.get("policies").split(",")) : null;
    List<SimPolicy> policies = all.stream().filter(p -> only == null || only.contains(p.name())).toList();
    System.out.println("gpus  policy           attain   ttft    tpot   goodput  rejected  activations  migrations  migr/10min  evictions  preemptions"
        + "  replicas+/-");
    Map<String, Integer> gpusFor99 = new LinkedHashMap<>();
    Map<String, Integer> gpusFor99Ttft = new LinkedHashMap<>();
    for (int g : gpuCounts) {
      for (SimPolicy p : policies) {
        SimResult r = Simulator.run(w, slos, p, gpu, g);
        SimCounters c = r.counters();
        System.out.printf(Locale.ROOT, "%4d  %-15s %6.2f%% %6.2f%% %6.2f%% %8.2f %9d %12d %11d %11d %10d %12d %7d/%d%n", g, p.name(),
            100 * r.attainment(), 100 * r.ttftAttainment(), 100 * r.tpotAttainment(), r.goodput(), c.rejected(), c.activations(),
            c.migrations(), c.maxMigrationsIn(600_000_000_000L), c.evictions(), c.preemptions(), c.replicasAdded(), c.replicasRemoved());
        if (verbose) {
          for (SimResult.ModelStats m : r.models()) {
            System.out.printf(Locale.ROOT, "        %-22s n=%5d ttft %6.2f%% tpot %6.2f%% both %6.2f%% rejected %4d unfinished %3d p95 ttft %7.0f ms tpot %6.1f ms%n",
                m.modelId(), m.requests(), pct(m.ttftMet(), m.requests()), pct(m.tpotMet(), m.requests()), pct(m.bothMet(), m.requests()),
                m.rejected(), m.unfinished(), m.p95TtftNanos() / 1e6, m.p95TpotNanos() / 1e6);
          }
        }
        if (r.attainment() >= 0.99) gpusFor99.putIfAbsent(p.name(), g);
        if (r.ttftAttainment() >= 0.99) gpusFor99Ttft.putIfAbsent(p.name(), g);
      }
    }
    int most = gpuCounts[gpuCounts.length - 1];
    System.out.println("# fewest GPUs for 99% TTFT attainment: " + summary(policies, gpusFor99Ttft, most));
    System.out.println("# fewest GPUs for 99% TTFT+TPOT attainment: " + summary(policies, gpusFor99, most));
  }
}
