package io.prism.app.bench;

import io.prism.runtime.policy.Slo;
import io.prism.runtime.policy.sim.GpuCountSearch;
import io.prism.runtime.policy.sim.GpuProfile;
import io.prism.runtime.policy.sim.SimPolicy;
import io.prism.runtime.policy.sim.SimResult;
import io.prism.runtime.policy.sim.Simulator;
import io.prism.runtime.policy.sim.SloCalibration;
import io.prism.runtime.policy.sim.Workload;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code prism plan}: what-if planning beyond any run. For a trace spread over N models (the same
 * workload as {@code prism bench replay}, {@link ReplayWorkload}), how many GPUs of one profile each
 * policy needs to reach {@code --attainment} of TTFT and TPOT together, from the simulator ({@link
 * Simulator} with each policy's {@link ReplayPolicy#sim()}; {@link GpuCountSearch} doubles then
 * bisects the GPU count). SLOs as the paper sets them: each model's P95 alone on a dedicated GPU of
 * the profile times {@code --slo-scale} ({@link SloCalibration}). The GPU profile is a built-in one
 * ({@code --profile h100}, {@code h200}, {@code cpu}) or the cost model a replay's calibration printed ({@code
 * --sim-profile HBM_GBps,PREFILL_GFLOPs,STEP_ms} with {@code --gpu-memory}). Prints one row per
 * policy: GPUs needed, attainment there and with one GPU fewer, and the counts simulated.
 *
 * <p>Exit codes: 0 done (also when a policy needs more than {@code --max-gpus}: its row says so); 1 a
 * failure; 2 a usage error (a bad value names its option).
 */
@Command(name = "plan", mixinStandardHelpOptions = true, sortOptions = false,
    description = "How many GPUs each policy needs for a target SLO attainment on a trace, from the simulator.")
public final class PlanCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @CommandLine.Mixin TraceOptions workload;

  @Option(names = "--model-mix", split = ",", defaultValue = "random:llama-3.2-1b,random:llama-3.2-3b,random:llama-3.1-8b",
      description = "model shapes used in turn for models 0, 1, ... (default: ${DEFAULT-VALUE})")
  List<String> mix;

  @Option(names = "--rate", defaultValue = "5", description = "servegen: total requests/s at rate scale 1 (default: ${DEFAULT-VALUE})")
  double rate;

  @Option(names = "--rate-scale", defaultValue = "1", description = "multiplies the arrival rate (default: ${DEFAULT-VALUE})")
  double rateScale;

  @Option(names = "--duration", converter = DurationConverter.class, defaultValue = "600s", description = "arrival window (default: ${DEFAULT-VALUE})")
  Duration duration;

  @Option(names = "--attainment", defaultValue = "0.99", description = "target TTFT+TPOT attainment, in (0, 1] (default: ${DEFAULT-VALUE})")
  double attainment;

  @Option(names = "--policies", split = ",", defaultValue = "static,muxserve++,serverlessllm,qlm,prism",
      description = "policies (names of prism bench replay; 'all' for the ablations too) (default: ${DEFAULT-VALUE})")
  List<String> policies;

  @Option(names = "--profile", defaultValue = "h200", description = "built-in GPU profile: h100, h200 or cpu (a host device of the replay rig) (default: ${DEFAULT-VALUE})")
  String profile;

  @Option(names = "--sim-profile", paramLabel = "HBM_GBps,PREFILL_GFLOPs,STEP_ms",
      description = "a calibrated cost model instead (printed by prism bench replay's calibration); needs --gpu-memory")
  String simProfile;

  @Option(names = "--gpu-memory", description = "each GPU's budget for weights and KV with --sim-profile (HOCON size, e.g. 160MiB)")
  String gpuMemory;

  @Option(names = "--host-link", defaultValue = "25", description = "with --sim-profile: host-to-device GB/s for activations (default: ${DEFAULT-VALUE})")
  double hostLinkGBps;

  @Option(names = "--slo-scale", defaultValue = "5", description = "SLO = this x each model's P95 alone on the profile (default: ${DEFAULT-VALUE})")
  double sloScale;

  @Option(names = "--max-gpus", defaultValue = "64", description = "largest GPU count tried (default: ${DEFAULT-VALUE})")
  int maxGpus;

  @Option(names = "--backend", defaultValue = "cuda", description = "element size of weights and KV: cuda (bf16) or host (f32) (default: ${DEFAULT-VALUE})")
  String backend;

  @Override
  public Integer call() {
    validate();
    PrintWriter out = spec.commandLine().getOut();
    GpuProfile gpu = gpuProfile();
    ReplayWorkload.Options o = new ReplayWorkload.Options(workload.source(), workload.tracesDir(), mix,
        workload.numModels, rate, rateScale, duration, 1.0, Duration.ofSeconds(15), Duration.ofSeconds(35), 10, 0.375, Duration.ofSeconds(15), Duration.ZERO,
        workload.lengthScale, workload.maxPromptTokens, workload.maxOutputTokens, backend.equals("cuda") ? 2 : 4, workload.seed);
    ReplayWorkload.Built built = ReplayWorkload.build(o);
    Workload w = built.workload();
    Map<String, Slo> slos = SloCalibration.dedicated(w, gpu, sloScale, sloScale);
    out.println("prism plan: " + built.description());
    out.printf(Locale.ROOT, "GPU profile %s: %.1f GB for weights and KV, HBM %.1f GB/s, prefill %.1f TFLOP/s, step overhead %.3f ms, host link %.1f GB/s%n",
        gpu.name(), gpu.memoryBudgetBytes() / 1e9, gpu.hbmBytesPerSecond() / 1e9, gpu.effectiveFlops() / 1e12, gpu.stepOverheadNanos() / 1e6,
        gpu.hostToDeviceBytesPerSecond() / 1e9);
    out.printf(Locale.ROOT, "SLOs: %.1f x each model's P95 TTFT and TPOT alone on one GPU of the profile (simulated); target %.2f%% TTFT+TPOT%n",
        sloScale, 100 * attainment);
    out.printf("%-19s %6s %12s %14s  %s%n", "policy", "GPUs", "attain@GPUs", "attain@GPUs-1", "simulated (GPUs: attainment %)");
    for (ReplayPolicy p : chosen()) {
      SimPolicy sim = p.sim();
      GpuCountSearch.Result r = GpuCountSearch.fewestGpus(g -> Simulator.run(w, slos, sim, gpu, g).attainment(), attainment, maxGpus);
      List<String> pts = new ArrayList<>();
      r.evaluated().forEach((g, a) -> pts.add(String.format(Locale.ROOT, "%d: %.2f", g, 100 * a)));
      out.printf(Locale.ROOT, "%-19s %6s %11.2f%% %13s  %s%n", p.name(), r.gpus() < 0 ? ">" + maxGpus : Integer.toString(r.gpus()),
          100 * r.attainment(), Double.isNaN(r.attainmentOneFewer()) ? "-" : String.format(Locale.ROOT, "%.2f%%", 100 * r.attainmentOneFewer()),
          String.join(", ", pts));
      out.flush();
    }
    return 0;
  }

  /** The built-in profile, or the calibrated one of --sim-profile. */
  GpuProfile gpuProfile() {
    if (simProfile == null) {
      return switch (profile.toLowerCase(Locale.ROOT)) {
        case "h100" -> GpuProfile.H100;
        case "h200" -> GpuProfile.H200;
        case "cpu" -> GpuProfile.HOST_CPU;
        default -> throw new CommandLine.ParameterException(spec.commandLine(), "--profile: h100, h200 or cpu, got '" + profile + "'");
      };
    }
    String[] v = simProfile.split(",");
    if (v.length != 3) throw new CommandLine.ParameterException(spec.commandLine(), "--sim-profile: HBM_GBps,PREFILL_GFLOPs,STEP_ms, got '" + simProfile + "'");
    if (gpuMemory == null) throw new CommandLine.ParameterException(spec.commandLine(), "--sim-profile needs --gpu-memory (each GPU's budget)");
    long budget = com.typesafe.config.ConfigFactory.parseString("v = \"" + gpuMemory + "\"").getBytes("v");
    try {
      return new GpuProfile("calibrated", budget, Double.parseDouble(v[0]) * 1e9, Double.parseDouble(v[1]) * 1e9, hostLinkGBps * 1e9,
          Math.round(Double.parseDouble(v[2]) * 1e6), 5_000_000L);
    } catch (NumberFormatException e) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--sim-profile: three numbers, got '" + simProfile + "'");
    }
  }

  private List<ReplayPolicy> chosen() {
    if (policies.size() == 1 && policies.get(0).equalsIgnoreCase("all")) return ReplayPolicy.ALL;
    List<ReplayPolicy> out = new ArrayList<>();
    for (String n : policies) {
      try {
        out.add(ReplayPolicy.named(n));
      } catch (IllegalArgumentException e) {
        throw new CommandLine.ParameterException(spec.commandLine(), "--policies: " + e.getMessage());
      }
    }
    return out;
  }

  private void validate() {
    CommandLine cl = spec.commandLine();
    if (!(attainment > 0 && attainment <= 1)) throw new CommandLine.ParameterException(cl, "--attainment must be in (0, 1], got " + attainment);
    if (maxGpus < 1) throw new CommandLine.ParameterException(cl, "--max-gpus must be >= 1, got " + maxGpus);
    if (workload.numModels < 1) throw new CommandLine.ParameterException(cl, "--models must be >= 1, got " + workload.numModels);
    if (sloScale <= 0) throw new CommandLine.ParameterException(cl, "--slo-scale must be > 0, got " + sloScale);
    if (!backend.equals("cuda") && !backend.equals("host")) throw new CommandLine.ParameterException(cl, "--backend: cuda or host, got " + backend);
    if (duration.isNegative() || duration.isZero()) throw new CommandLine.ParameterException(cl, "--duration must be > 0, got " + duration);
  }
}
