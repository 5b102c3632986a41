package io.prism.app.bench;

import io.prism.runtime.forward.KernelWarmUp;
import io.prism.runtime.policy.Slo;
import io.prism.runtime.policy.sim.GpuProfile;
import io.prism.runtime.policy.sim.SimResult;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code prism bench replay}: the paper's evaluation on the real system. Replays a real trace
 * ({@link ReplayWorkload}) against the whole server over loopback HTTP (in this process, or a
 * running server with {@code --url}), once per policy ({@link ReplayPolicy}: the baselines and
 * Prism with its ablations, each a fresh server with the same devices), with streaming requests
 * whose TTFT and TPOT are measured at the client ({@link ReplayDriver}); SLOs are each shape's P95
 * alone times {@code --slo-scale} ({@link ReplayCalibration}). Prints per policy TTFT, TPOT and
 * joint attainment, goodput and GPU-seconds; with {@code --sweep}, every policy at every rate scale
 * and the highest scale each keeps {@code --target} attainment; then the same workload through the
 * simulator with a cost model fitted to the calibration, real against simulated attainment. Writes
 * a CSV of every request ({@code --csv}), the memory samples ({@code --memory-csv}) and, with
 * {@code --report DIR}, PNG plots and an HTML report (XChart; not in the server bundle).
 *
 * <p>A long sweep can be split into several commands: {@code --calibrate-only} measures the SLOs
 * and the simulator's cost model and prints them as {@code --shape-slo} and {@code --sim-profile}
 * options that later commands take instead of measuring again. Each run's row is printed as soon
 * as it ends.
 *
 * <p>Exit codes: 0 done; 1 a failure (message on stderr), or a run that could not start (the other
 * runs are still reported); a request never recorded is a failure.
 */
@Command(name = "replay", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Replay a real trace against the server: Prism vs static, MuxServe++, ServerlessLLM-like, QLM-like and ablations.")
public final class ReplayBenchCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @CommandLine.Mixin TraceOptions workload;

  @Option(names = "--model-mix", split = ",", defaultValue = "random:stories260K,random:stories15M",
      description = "model shapes used in turn for models 0, 1, ... (GPU: random:llama-3.2-1b,random:llama-3.2-3b,random:llama-3.1-8b) (default: ${DEFAULT-VALUE})")
  List<String> mix;

  @Option(names = "--rate", defaultValue = "2", description = "servegen: total requests/s at rate scale 1 (default: ${DEFAULT-VALUE})")
  double rate;

  @Option(names = "--rate-scale", defaultValue = "1", description = "multiplies the arrival rate (timed traces: their own rate) (default: ${DEFAULT-VALUE})")
  double rateScale;

  @Option(names = "--sweep", split = ",", description = "rate scales to sweep, e.g. 0.5,1,2,4 (overrides --rate-scale)")
  List<Double> sweep;

  @Option(names = "--target", defaultValue = "0.99", description = "attainment the sweep looks for (default: ${DEFAULT-VALUE})")
  double target;

  @Option(names = "--duration", converter = DurationConverter.class, defaultValue = "60s", description = "arrival window of each run, at most 1h (default: ${DEFAULT-VALUE})")
  Duration duration;

  @Option(names = "--policies", split = ",", defaultValue = "static,muxserve++,serverlessllm,qlm,prism",
      description = "policies to run; also prism-no-elastic, prism-no-eviction, prism-no-admission, or 'all' (default: ${DEFAULT-VALUE})")
  List<String> policies;

  @Option(names = "--url", description = "replay against a running server (e.g. http://127.0.0.1:8000); its settings are the only policy")
  String url;

  @Option(names = "--url-models", split = ",", description = "with --url: the served model ids, one per model (--models is their count)")
  List<String> urlModels;

  @Option(names = "--backend", defaultValue = "host", description = "host or cuda (default: ${DEFAULT-VALUE})")
  String backend;

  @Option(names = "--gpus", defaultValue = "2", description = "devices (default: ${DEFAULT-VALUE})")
  int gpus;

  @Option(names = "--gpu-memory", defaultValue = "160MiB", description = "each device's budget for weights and KV (default: ${DEFAULT-VALUE})")
  String gpuMemory;

  @Option(names = "--page-size", defaultValue = "64KiB", description = "host page size (default: ${DEFAULT-VALUE})")
  String pageSize;

  @Option(names = "--threads", defaultValue = "1", description = "forward-pass threads per host device (default: ${DEFAULT-VALUE})")
  int threads;

  @Option(names = "--idle-eviction", converter = DurationConverter.class, defaultValue = "45s",
      description = "idle time before Prism evicts a model (the paper: 45 s) (default: ${DEFAULT-VALUE})")
  Duration idleEviction;

  @Option(names = "--slo-scale", defaultValue = "5", description = "SLO = this x each shape's P95 TTFT and TPOT alone (default: ${DEFAULT-VALUE})")
  double sloScale;

  @Option(names = "--ttft-slo", converter = DurationConverter.class, description = "fixed TTFT SLO of every model (skips the calibration)")
  Duration ttftSlo;

  @Option(names = "--tpot-slo", converter = DurationConverter.class, description = "fixed TPOT SLO of every model (with --ttft-slo)")
  Duration tpotSlo;

  @Option(names = "--shape-slo", paramLabel = "SHAPE=TTFT/TPOT",
      description = "fixed SLO of every model of a shape, e.g. random:llama-3.1-8b=800ms/60ms (repeatable; all shapes or none; skips the calibration)")
  Map<String, String> shapeSlos;

  @Option(names = "--sim-profile", paramLabel = "HBM_GBps,PREFILL_GFLOPs,STEP_ms",
      description = "the simulator's cost model when the SLOs are fixed (printed by a calibration)")
  String simProfileText;

  @Option(names = "--calibrate-only", description = "measure the SLOs, print them as --shape-slo options and stop")
  boolean calibrateOnly;

  @Option(names = "--calibration-requests", defaultValue = "16", description = "requests per shape measured alone (default: ${DEFAULT-VALUE})")
  int calibrationRequests;

  @Option(names = "--zipf", defaultValue = "1.0", description = "popularity exponent (default: ${DEFAULT-VALUE})")
  double zipf;

  @Option(names = "--burst-on", converter = DurationConverter.class, defaultValue = "15s", description = "servegen: mean burst (default: ${DEFAULT-VALUE})")
  Duration burstOn;

  @Option(names = "--burst-off", converter = DurationConverter.class, defaultValue = "35s", description = "servegen: mean quiet period (default: ${DEFAULT-VALUE})")
  Duration burstOff;

  @Option(names = "--compression", defaultValue = "10", description = "servegen: 10-minute windows per 600 s (default: ${DEFAULT-VALUE})")
  double compression;

  @Option(names = "--group-fraction", defaultValue = "0.375", description = "timed traces: models active at once (default: ${DEFAULT-VALUE})")
  double groupFraction;

  @Option(names = "--group-period", converter = DurationConverter.class, defaultValue = "15s", description = "timed traces: active-group length (default: ${DEFAULT-VALUE})")
  Duration groupPeriod;

  @Option(names = "--trace-offset", converter = DurationConverter.class, defaultValue = "0s", description = "timed traces: start point (default: ${DEFAULT-VALUE})")
  Duration traceOffset;

  @Option(names = "--request-timeout", converter = DurationConverter.class, defaultValue = "120s",
      description = "client timeout of one socket read (default: ${DEFAULT-VALUE})")
  Duration requestTimeout;

  @Option(names = "--drain", converter = DurationConverter.class, defaultValue = "60s",
      description = "wait after the last arrival before the rest count as timed out (default: ${DEFAULT-VALUE})")
  Duration drain;

  @Option(names = "--max-in-flight", defaultValue = "1024", description = "most requests in flight (default: ${DEFAULT-VALUE})")
  int maxInFlight;

  @Option(names = "--csv", defaultValue = "replay-requests.csv", description = "every request (default: ${DEFAULT-VALUE})")
  Path csv;

  @Option(names = "--memory-csv", defaultValue = "replay-memory.csv", description = "memory samples (default: ${DEFAULT-VALUE})")
  Path memoryCsv;

  @Option(names = "--report", description = "folder for PNG plots and report.html (needs XChart: ./prism from the repository)")
  Path report;

  @Option(names = "--no-sim", description = "skip the comparison with the simulator")
  boolean noSim;

  @Option(names = "--no-progress", description = "no progress bar on stderr")
  boolean noProgress;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    validate();
    if (report != null && !ReplayReport.plottingAvailable()) {
      throw new IllegalStateException("--report needs XChart, which the server bundle leaves out: run ./prism from the repository after "
          + "`mvn package` (it adds app/target/plot-lib), or drop --report");
    }
    ((ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger("io.prism")).setLevel(ch.qos.logback.classic.Level.WARN);
    ((ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger("org.apache.pekko")).setLevel(ch.qos.logback.classic.Level.WARN);
    int bytesPerElement = backend.equals("cuda") ? 2 : 4;
    ReplayWorkload.Options base = new ReplayWorkload.Options(workload.source(), workload.tracesDir(), mix,
        workload.numModels, rate, rateScale, duration, zipf, burstOn, burstOff, compression, groupFraction, groupPeriod, traceOffset, workload.lengthScale,
        workload.maxPromptTokens, workload.maxOutputTokens, bytesPerElement, workload.seed);
    ReplayServer.Rig rig = new ReplayServer.Rig(backend, gpus, gpuMemory, pageSize, threads, idleEviction);
    ReplayDriver.Limits limits = new ReplayDriver.Limits(requestTimeout, drain, maxInFlight);
    ReplayTarget target = url != null ? ReplayTarget.remote(url, urlModels, workload.numModels) : null;
    List<ReplayPolicy> chosen = target != null ? List.of(ReplayPolicy.external()) : policies();
    List<Double> scales = sweep != null && !sweep.isEmpty() ? sweep : List.of(rateScale);

    ReplayWorkload.Built calibrationLoad = ReplayTarget.rename(ReplayWorkload.build(base), target);
    out.println("prism bench replay: " + calibrationLoad.description());
    out.printf(Locale.ROOT, "devices: %s%n", target != null ? "the server at " + url
        : String.format(Locale.ROOT, "%d x %s, %s each, %d forward thread(s) each", gpus, backend, gpuMemory, threads));
    out.flush();
    if (backend.equals("host") && target == null) KernelWarmUp.run(Duration.ofSeconds(2));
    ReplayCalibration.Result calibration = null;
    Map<String, Slo> slos;
    if (ttftSlo != null || shapeSlos != null) {
      slos = fixedSlos(calibrationLoad);
    } else {
      err.println("calibrating SLOs: each shape alone, " + calibrationRequests + " requests one at a time ...");
      err.flush();
      calibration = target != null ? ReplayCalibration.remote(target.address(), calibrationLoad, sloScale, calibrationRequests, requestTimeout)
          : ReplayCalibration.dedicated(calibrationLoad, rig, sloScale, calibrationRequests, requestTimeout);
      slos = calibration.slos();
      out.printf(Locale.ROOT, "SLOs: %.1f x P95 alone (--slo-scale)%n", sloScale);
      StringBuilder again = new StringBuilder();
      for (ReplayCalibration.Measured m : calibration.measured()) {
        out.printf(Locale.ROOT, "  %-28s alone: TTFT p50 %7.1f ms p95 %7.1f ms, TPOT p50 %6.2f ms p95 %6.2f ms -> SLO TTFT %7.1f ms, TPOT %6.2f ms%n",
            m.source(), m.medianTtftNanos() / 1e6, m.p95TtftNanos() / 1e6, m.medianTpotNanos() / 1e6, m.p95TpotNanos() / 1e6,
            m.p95TtftNanos() * sloScale / 1e6, m.p95TpotNanos() * sloScale / 1e6);
        again.append(String.format(Locale.ROOT, " --shape-slo %s=%dus/%dus", m.source(), Math.round(m.p95TtftNanos() * sloScale / 1e3),
            Math.round(m.p95TpotNanos() * sloScale / 1e3)));
      }
      GpuProfile p = simProfile(calibration);
      out.printf(Locale.ROOT, "  (to reuse them:%s --sim-profile %.4g,%.4g,%.4g)%n", again, p.hbmBytesPerSecond() / 1e9, p.effectiveFlops() / 1e9,
          p.stepOverheadNanos() / 1e6);
    }
    if (calibrateOnly) {
      out.flush();
      return 0;
    }
    out.flush();

    List<ReplayReport.Run> runs = new ArrayList<>();
    List<String> failures = new ArrayList<>();
    Map<ReplayReport.Run, ReplayWorkload.Built> loads = new LinkedHashMap<>();
    for (double scale : scales) {
      ReplayWorkload.Built load = ReplayTarget.rename(ReplayWorkload.build(base.withRateScale(scale)), target);
      if (scales.size() > 1) out.println("rate scale " + scale + ": " + load.description());
      for (ReplayPolicy p : chosen) {
        ReplayReport.Run r;
        try {
          r = ReplayRun.run(p, scale, load, slos, rig, limits, target, noProgress ? null : err);
        } catch (Exception e) { // a server that could not start or serve its models: the other runs still count
          String why = p.name() + " at rate scale " + scale + " could not run: " + (e.getMessage() == null ? e : e.getMessage());
          failures.add(why);
          err.println("prism: " + why);
          err.flush();
          continue;
        }
        runs.add(r);
        if (runs.size() == 1) ReplaySummary.header(out);
        r.summary().print(out); // at once: a run cut short still leaves the rows it finished
        out.flush();
        loads.put(r, load);
        if (r.records().size() != load.workload().arrivals().size()) {
          throw new IllegalStateException(p.name() + ": " + load.workload().arrivals().size() + " requests sent but " + r.records().size() + " recorded");
        }
      }
    }
    StringWriter tables = new StringWriter();
    PrintWriter t = new PrintWriter(tables);
    t.println("attainment over all requests sent (rejected, failed and timed-out requests miss both SLOs); goodput = requests meeting both / s");
    ReplaySummary.header(t);
    for (ReplayReport.Run r : runs) r.summary().print(t);
    if (scales.size() > 1) printSweep(t, runs, chosen);
    GpuProfile profile = simProfile(calibration);
    if (!noSim && profile != null) {
      t.printf(Locale.ROOT, "%nsimulator on the same workload, GPU profile fitted to the calibration: HBM %.2f GB/s, prefill %.2f GFLOP/s, step overhead %.2f ms%n",
          profile.hbmBytesPerSecond() / 1e9, profile.effectiveFlops() / 1e9, profile.stepOverheadNanos() / 1e6);
      ReplaySim.header(t);
      for (ReplayReport.Run r : runs) {
        ReplayPolicy p = target != null ? ReplayPolicy.external() : ReplayPolicy.named(r.summary().policy());
        SimResult s = ReplaySim.simulate(p, loads.get(r).workload(), slos, profile, target != null ? 1 : gpus);
        ReplaySim.print(t, r.summary(), s);
      }
    }
    t.flush();
    out.println();
    out.println("all runs:");
    out.print(tables);
    ReplayReport.writeRequests(csv, runs);
    ReplayReport.writeMemory(memoryCsv, runs);
    out.println("requests: " + csv.toAbsolutePath() + "; memory samples: " + memoryCsv.toAbsolutePath());
    if (report != null) {
      Path html = ReplayReport.writePlotsAndHtml(report, runs, "prism bench replay: " + calibrationLoad.description(), tables.toString());
      out.println("report: " + html.toAbsolutePath());
    }
    for (String f : failures) out.println("FAILED: " + f);
    out.flush();
    return failures.isEmpty() ? 0 : 1;
  }

  /** The simulator's cost model: fitted to {@code calibration}, else from --sim-profile, else null (no comparison). */
  private GpuProfile simProfile(ReplayCalibration.Result calibration) {
    long budget = url != null ? Long.MAX_VALUE / 4 : com.typesafe.config.ConfigFactory.parseString("v = \"" + gpuMemory + "\"").getBytes("v");
    double hostToDevice = backend.equals("cuda") ? 25e9 : 5e9;
    Duration activation = Duration.ofMillis(backend.equals("cuda") ? 100 : 5);
    if (calibration != null) return ReplayCalibration.gpuProfile("calibrated-" + backend, calibration.measured(), budget, hostToDevice, activation);
    if (simProfileText == null) return null;
    String[] v = simProfileText.split(",");
    if (v.length != 3) throw new IllegalArgumentException("--sim-profile: HBM_GBps,PREFILL_GFLOPs,STEP_ms, got " + simProfileText);
    return new GpuProfile("given-" + backend, budget, Double.parseDouble(v[0]) * 1e9, Double.parseDouble(v[1]) * 1e9, hostToDevice,
        Math.round(Double.parseDouble(v[2]) * 1e6), activation.toNanos());
  }

  /** SLOs from --ttft-slo/--tpot-slo or --shape-slo (every shape must have one). */
  private Map<String, Slo> fixedSlos(ReplayWorkload.Built load) {
    Map<String, Slo> slos = new LinkedHashMap<>();
    for (Map.Entry<String, String> e : load.sources().entrySet()) {
      Slo slo;
      if (shapeSlos != null) {
        String v = shapeSlos.get(e.getValue());
        if (v == null) throw new IllegalArgumentException("--shape-slo has no SLO for shape " + e.getValue() + "; give every shape of --model-mix one");
        String[] parts = v.split("/");
        if (parts.length != 2) throw new IllegalArgumentException("--shape-slo " + e.getValue() + "=" + v + ": expected TTFT/TPOT such as 800ms/60ms");
        DurationConverter d = new DurationConverter();
        slo = new Slo(d.convert(parts[0]), d.convert(parts[1]));
      } else {
        slo = new Slo(ttftSlo, tpotSlo);
      }
      slos.put(e.getKey(), slo);
    }
    spec.commandLine().getOut().println("SLOs: fixed, " + (shapeSlos != null ? shapeSlos : "TTFT " + ttftSlo.toMillis() + " ms, TPOT " + tpotSlo.toMillis() + " ms"));
    return slos;
  }

  private void printSweep(PrintWriter t, List<ReplayReport.Run> runs, List<ReplayPolicy> chosen) {
    t.printf(Locale.ROOT, "%nhighest rate scale with >= %.1f%% attainment (sweep %s):%n", 100 * target, sweep);
    for (ReplayPolicy p : chosen) {
      double bestBoth = Double.NaN, bestTtft = Double.NaN;
      for (ReplayReport.Run r : runs) {
        if (!r.summary().policy().equals(p.name())) continue;
        if (r.summary().attainment() >= target && !(r.summary().rateScale() <= bestBoth)) bestBoth = r.summary().rateScale();
        if (r.summary().ttftAttainment() >= target && !(r.summary().rateScale() <= bestTtft)) bestTtft = r.summary().rateScale();
      }
      t.printf(Locale.ROOT, "  %-19s TTFT+TPOT: %s   TTFT: %s%n", p.name(), Double.isNaN(bestBoth) ? "none" : bestBoth,
          Double.isNaN(bestTtft) ? "none" : bestTtft);
    }
  }

  private List<ReplayPolicy> policies() {
    if (policies.size() == 1 && policies.get(0).equalsIgnoreCase("all")) return ReplayPolicy.ALL;
    List<ReplayPolicy> out = new ArrayList<>();
    for (String n : policies) out.add(ReplayPolicy.named(n));
    return out;
  }

  private void validate() {
    if (duration.isNegative() || duration.isZero() || duration.compareTo(Duration.ofHours(1)) > 0) {
      throw new IllegalArgumentException("--duration must be in (0, 1h], got " + duration);
    }
    if ((ttftSlo == null) != (tpotSlo == null)) throw new IllegalArgumentException("--ttft-slo and --tpot-slo go together");
    if (gpus < 1 || threads < 1 || workload.numModels < 1) throw new IllegalArgumentException("--gpus, --threads and --models must be >= 1");
    if (target <= 0 || target > 1) throw new IllegalArgumentException("--target must be in (0, 1], got " + target);
    if (sweep != null) for (double s : sweep) if (s <= 0) throw new IllegalArgumentException("--sweep scales must be > 0, got " + s);
    if (!backend.equals("host") && !backend.equals("cuda")) throw new IllegalArgumentException("--backend: host or cuda, got " + backend);
  }
}
