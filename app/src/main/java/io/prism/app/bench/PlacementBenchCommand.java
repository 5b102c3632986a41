package io.prism.app.bench;

import io.prism.actors.GpuId;
import io.prism.actors.ModelSpec;
import io.prism.actors.placement.GlobalPlacementActor;
import io.prism.actors.placement.PlacementView;
import io.prism.runtime.forward.KernelWarmUp;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code prism bench placement}: does the live global level (KVPR placement rounds with live
 * migration) keep SLOs when bursts move between groups of models? {@code --gpus} host devices serve
 * {@code --models} instances of one model; the models placed on one device form a group, and in each
 * of the phases of {@code --phase} one group is hot ({@code --hot-rate} requests/s per model) while
 * the others trickle ({@code --cold-rate}): bursts moving between groups, about a quarter of the
 * models active at once, as in the paper's workload. Every group is hot once, in turn; the same
 * seeded arrivals drive two runs on fresh servers: placement rounds on ({@code kvpr}, a round every
 * {@code --round-interval}) and off (the initial placement stays).
 *
 * <p>Per run it prints: requests, SLO attainment (TTFT and TPOT both within the model's SLOs),
 * goodput (requests within SLO per second), rejections, migrations done, and the p99 TTFT of
 * requests sent while a migration was under way against the others (the goal: within
 * 1.5x). Every request ends by itself (client timeout); the run fails if one does not.
 */
@Command(name = "placement", mixinStandardHelpOptions = true,
    description = "Placement rounds on vs off with bursts moving between model groups on several host GPUs: attainment, goodput, migrations.")
public final class PlacementBenchCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--model", defaultValue = "random:stories15M", description = "random:NAME or a model file (default: ${DEFAULT-VALUE})")
  String model;

  @Option(names = "--gpus", defaultValue = "4", description = "host devices (default: ${DEFAULT-VALUE})")
  int gpus;

  @Option(names = "--models", defaultValue = "12", description = "model instances (default: ${DEFAULT-VALUE})")
  int models;

  @Option(names = "--phase", converter = DurationConverter.class, defaultValue = "20s", description = "how long one group stays hot (default: ${DEFAULT-VALUE})")
  Duration phase;

  @Option(names = "--hot-rate", defaultValue = "3", description = "requests/s per model of the hot group (default: ${DEFAULT-VALUE})")
  double hotRate;

  @Option(names = "--cold-rate", defaultValue = "0.05", description = "requests/s per model of the other groups (default: ${DEFAULT-VALUE})")
  double coldRate;

  @Option(names = "--ttft-slo", converter = DurationConverter.class, defaultValue = "2s", description = "TTFT SLO of every model (default: ${DEFAULT-VALUE})")
  Duration ttftSlo;

  @Option(names = "--tpot-slo", converter = DurationConverter.class, defaultValue = "200ms", description = "TPOT SLO of every model (default: ${DEFAULT-VALUE})")
  Duration tpotSlo;

  @Option(names = "--round-interval", converter = DurationConverter.class, defaultValue = "4s", description = "placement round interval (default: ${DEFAULT-VALUE})")
  Duration roundInterval;

  @Option(names = "--rate-window", converter = DurationConverter.class, defaultValue = "10s",
      description = "window of the token rates placement sees (default: ${DEFAULT-VALUE}; the server's default is 60s)")
  Duration rateWindow;

  @Option(names = "--prompt-tokens", defaultValue = "32", description = "prompt length (default: ${DEFAULT-VALUE})")
  int promptTokens;

  @Option(names = "--max-tokens", defaultValue = "32", description = "generated tokens per request (default: ${DEFAULT-VALUE})")
  int maxTokens;

  @Option(names = "--gpu-memory", defaultValue = "512MiB", description = "memory budget of each device (default: ${DEFAULT-VALUE})")
  String gpuMemory;

  @Option(names = "--max-requests", defaultValue = "3000", description = "most requests per run (default: ${DEFAULT-VALUE})")
  int maxRequests;

  @Option(names = "--seed", defaultValue = "11", description = "seed of arrivals and prompts (default: ${DEFAULT-VALUE})")
  long seed;

  private static final int REQUEST_TIMEOUT_MILLIS = (int) Duration.ofMinutes(2).toMillis();

  private record Arrival(double offsetSeconds, int model) {}

  private record Run(String label, List<SseClient.Result> results, List<PlacementView.MigrationView> migrations, double wallSeconds, long startMillis,
      long startNanos) {}

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    if (gpus < 2 || models < gpus || hotRate <= 0 || coldRate < 0 || phase.isZero() || phase.isNegative() || maxRequests < 1) {
      throw new IllegalArgumentException("need --gpus >= 2, --models >= --gpus, --hot-rate > 0, --cold-rate >= 0, --phase > 0");
    }
    out.printf("prism bench placement: %d x %s on %d host devices; a group hot for %d s each (%.2f req/s per model, others %.2f); SLO %d / %d ms"
        + " (TTFT / TPOT)%n", models, model, gpus, phase.toSeconds(), hotRate, coldRate, ttftSlo.toMillis(), tpotSlo.toMillis());
    out.flush();
    KernelWarmUp.run(Duration.ofSeconds(2));
    List<Run> runs = new ArrayList<>();
    for (boolean rounds : new boolean[] {true, false}) runs.add(run(rounds, out));
    out.printf("%-14s %8s %8s %9s %9s %9s %10s %12s %14s %10s%n", "placement", "requests", "ended", "attained", "goodput", "rejected",
        "migrations", "p99_ttft_ms", "p99_ttft_migr", "ratio");
    boolean hung = false;
    for (Run r : runs) {
      int ok = 0, rejected = 0, ended = 0;
      List<Double> steady = new ArrayList<>(), during = new ArrayList<>();
      for (SseClient.Result x : r.results()) {
        if (x.status() != -1) ended++;
        if (x.status() == 503 || x.status() == 429) rejected++;
        if (!x.ok()) continue;
        double ttft = (x.firstTokenNanos() - x.sentNanos()) / 1e6;
        double tpot = x.completionTokens() > 1 ? (x.lastTokenNanos() - x.firstTokenNanos()) / 1e6 / (x.completionTokens() - 1) : 0;
        if (ttft <= ttftSlo.toMillis() && tpot <= tpotSlo.toMillis()) ok++;
        long sentMillis = r.startMillis() + (x.sentNanos() - r.startNanos()) / 1_000_000;
        boolean migrating = r.migrations().stream().anyMatch(m -> sentMillis >= m.startedEpochMillis()
            && sentMillis <= m.startedEpochMillis() + (long) (m.seconds() * 1000));
        (migrating ? during : steady).add(ttft);
      }
      hung |= ended != r.results().size();
      double p99s = p99(steady), p99d = p99(during);
      long done = r.migrations().stream().filter(m -> m.outcome().equals("done")).count();
      out.printf(Locale.ROOT, "%-14s %8d %8d %8.1f%% %9.2f %9d %10d %12.0f %14s %10s%n", r.label(), r.results().size(), ended,
          100.0 * ok / r.results().size(), ok / r.wallSeconds(), rejected, done, p99s, during.isEmpty() ? "-" : String.format(Locale.ROOT, "%.0f", p99d),
          during.isEmpty() ? "-" : String.format(Locale.ROOT, "%.2f", p99d / p99s));
    }
    for (PlacementView.MigrationView m : runs.get(0).migrations()) {
      out.printf(Locale.ROOT, "  migration %s %s -> %s: %s in %.3f s (%s)%n", m.modelId(), m.from(), m.to(), m.outcome(), m.seconds(), m.reason());
    }
    out.flush();
    if (hung) throw new IllegalStateException("a request never ended");
    return 0;
  }

  private Run run(boolean rounds, PrintWriter out) throws Exception {
    Map<String, Object> o = new HashMap<>();
    o.put("prism.node.backend", "host");
    o.put("prism.node.gpu-count", gpus);
    o.put("prism.gpu.host-threads", 1);
    o.put("prism.gpu.memory-budget", gpuMemory);
    o.put("prism.placement.policy", rounds ? "kvpr" : "most-free");
    o.put("prism.placement.round-interval", rounds ? roundInterval.toMillis() + "ms" : "0s");
    o.put("prism.placement.migration-cooldown", phase.toMillis() + "ms");
    o.put("prism.placement.rate-window", rateWindow.toMillis() + "ms");
    try (InProcessServer s = InProcessServer.start(o)) {
      List<ModelSpec> specs = new ArrayList<>();
      for (int i = 0; i < models; i++) specs.add(new ModelSpec("m" + i, model, null, ttftSlo, tpotSlo, 0));
      Map<GpuId, List<Integer>> groups = new TreeMap<>();
      for (int i = 0; i < models; i++) {
        GlobalPlacementActor.RegisterReply r = s.server().node().register(specs.get(i)).toCompletableFuture().get(10, TimeUnit.MINUTES);
        if (!(r instanceof GlobalPlacementActor.Registered reg)) throw new IllegalStateException("model m" + i + " not served: " + r);
        groups.computeIfAbsent(reg.model().gpu(), g -> new ArrayList<>()).add(i);
      }
      List<List<Integer>> groupList = new ArrayList<>(groups.values());
      out.printf("run with placement rounds %s: groups (by initial GPU) %s%n", rounds ? "on" : "off", groupList);
      out.flush();
      List<Arrival> arrivals = arrivals(groupList);
      SseClient client = new SseClient(new InetSocketAddress("127.0.0.1", s.port()), REQUEST_TIMEOUT_MILLIS);
      int vocab = 512; // prompt token ids below 512 exist in every model shape (stories260K has the smallest vocabulary)
      ExecutorService pool = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "bench-placement");
        t.setDaemon(true);
        return t;
      });
      try {
        long startNanos = System.nanoTime();
        long startMillis = System.currentTimeMillis();
        List<Future<SseClient.Result>> futures = new ArrayList<>();
        for (int i = 0; i < arrivals.size(); i++) {
          Arrival a = arrivals.get(i);
          String json = HttpLoad.body("m" + a.model(), Prompts.random(vocab, 1, promptTokens, seed * 1_000_003L + i), maxTokens);
          long due = startNanos + (long) (a.offsetSeconds() * 1e9);
          for (long left = due - System.nanoTime(); left > 0; left = due - System.nanoTime()) LockSupport.parkNanos(left); // pacing
          futures.add(pool.submit(() -> client.post("/v1/completions", json)));
        }
        List<SseClient.Result> results = new ArrayList<>();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(REQUEST_TIMEOUT_MILLIS + 10_000L);
        for (Future<SseClient.Result> f : futures) {
          try {
            results.add(f.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS));
          } catch (ExecutionException | TimeoutException e) {
            long now = System.nanoTime();
            results.add(new SseClient.Result(-1, now, -1, -1, now, -1, 0, false, "did not end: " + e));
          }
        }
        double wall = (System.nanoTime() - startNanos) / 1e9;
        PlacementView view = s.server().node().placementView().toCompletableFuture().get(30, TimeUnit.SECONDS);
        List<PlacementView.MigrationView> migrations = new ArrayList<>(view.recent());
        migrations.addAll(view.inFlight());
        return new Run(rounds ? "rounds on" : "rounds off", results, migrations, wall, startMillis, startNanos);
      } finally {
        pool.shutdownNow();
        client.close();
      }
    }
  }

  /** Seeded Poisson arrivals: group k is hot during phase k, every model trickles otherwise. */
  private List<Arrival> arrivals(List<List<Integer>> groups) {
    SplittableRandom rnd = new SplittableRandom(seed);
    List<Arrival> out = new ArrayList<>();
    double phaseSeconds = phase.toMillis() / 1000.0;
    for (int k = 0; k < groups.size(); k++) {
      for (List<Integer> g : groups) {
        double rate = g == groups.get(k) ? hotRate : coldRate;
        if (rate <= 0) continue;
        for (int m : g) {
          for (double t = k * phaseSeconds - Math.log(1 - rnd.nextDouble()) / rate; t < (k + 1) * phaseSeconds;
              t += -Math.log(1 - rnd.nextDouble()) / rate) {
            out.add(new Arrival(t, m));
          }
        }
      }
    }
    out.sort((a, b) -> Double.compare(a.offsetSeconds(), b.offsetSeconds()));
    return out.size() > maxRequests ? out.subList(0, maxRequests) : out;
  }

  private static double p99(List<Double> xs) {
    if (xs.isEmpty()) return Double.NaN;
    double[] a = xs.stream().mapToDouble(Double::doubleValue).toArray();
    Arrays.sort(a);
    return a[Math.min(a.length - 1, (int) Math.ceil(0.99 * a.length) - 1)];
  }
}
