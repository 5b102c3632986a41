package io.prism.app.cli;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.prism.actors.Devices;
import io.prism.actors.frontend.GenerateRequest;
import io.prism.actors.frontend.GenerationEvent;
import io.prism.actors.placement.GlobalPlacementActor;
import io.prism.actors.gpu.GpuActor;
import io.prism.actors.GpuId;
import io.prism.actors.gpu.GpuStatus;
import io.prism.actors.ModelSpec;
import io.prism.actors.model.ModelStore;
import io.prism.actors.PrismConfig;
import io.prism.actors.PrismNode;
import io.prism.actors.PrismSettings;
import io.prism.runtime.engine.Device;
import io.prism.runtime.sampling.SamplingParams;
import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.model.ModelLoader;
import io.prism.runtime.model.RandomModels;
import java.io.PrintStream;
import java.io.Writer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Props;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code prism bench balloon}: two instances of one model (A and B) on one GPU with alternating
 * bursts (A, B, A, B ...), run once with elastic sharing (Prism: one pool, reclaim between the
 * models, idle weights evicted and reactivated) and once with a static 50/50 partition of the same
 * memory (the same code with a policy switch: each model's {@code max_pages} is half the pool's KV
 * pages, and no eviction). Prints per model TTFT and TPOT attainment of the SLOs, SLO attainment
 * (both), goodput (requests per second of workload that met both) and peak pages; writes the pages
 * each model held over time to a CSV.
 *
 * <p>Method: a one-node Prism cluster in this JVM with one device, a warm-up request per model, then
 * Poisson arrivals at {@code --rate} during each {@code --burst} for its model; prompts of {@code
 * --prompt-tokens} random token ids, {@code --max-tokens} tokens each (EOS ignored). TTFT and TPOT
 * are measured from the sender's side (send to first token, then the mean gap). A request rejected
 * by local admission (503) or failed misses both SLOs. Pages are sampled every 50 ms.
 *
 * <p>Defaults: {@code random:stories260K} on the host backend with 4 KiB pages and a KV budget far
 * below what a burst wants, so memory is contended; the whole run takes well under a minute. On a
 * GPU: {@code --backend cuda --model random:llama-3.1-8b --gpu-memory 60GiB} (the CUDA device is
 * loaded by name, {@link Devices}); {@code --temperature 0} there keeps every step on the greedy
 * CUDA-graph path (sampled steps run on the device too, about 0.8 ms slower per step).
 */
@Command(name = "balloon", mixinStandardHelpOptions = true,
    description = "Two models on one GPU with alternating bursts: elastic sharing vs a static 50/50 partition.")
public final class BalloonBenchCommand implements Callable<Integer> {
  @Option(names = "--model", defaultValue = "random:stories260K", paramLabel = "PATH|random:NAME",
      description = "model of both instances (default: ${DEFAULT-VALUE})")
  String model;

  @Option(names = "--backend", defaultValue = "host", description = "host or cuda (default: ${DEFAULT-VALUE})")
  String backend;

  @Option(names = "--kv-memory", defaultValue = "1600KiB", description = "KV budget beyond both models' weights (default: ${DEFAULT-VALUE})")
  String kvMemory;

  @Option(names = "--gpu-memory", description = "whole device budget (weights + KV); overrides --kv-memory")
  String gpuMemory;

  @Option(names = "--page-size", defaultValue = "4KiB", description = "host page size (default: ${DEFAULT-VALUE})")
  String pageSize;

  @Option(names = "--bursts", defaultValue = "4", description = "bursts, alternating A, B, ... (default: ${DEFAULT-VALUE})")
  int bursts;

  @Option(names = "--burst", defaultValue = "2s", description = "length of each burst (default: ${DEFAULT-VALUE})")
  String burst;

  @Option(names = "--rate", defaultValue = "20", description = "arrivals per second during a burst (default: ${DEFAULT-VALUE})")
  double rate;

  @Option(names = "--prompt-tokens", defaultValue = "384", description = "prompt length (default: ${DEFAULT-VALUE})")
  int promptTokens;

  @Option(names = "--max-tokens", defaultValue = "64", description = "tokens per request (default: ${DEFAULT-VALUE})")
  int maxTokens;

  @Option(names = "--temperature", defaultValue = "0.8", description = "sampling temperature, 0 = greedy (default: ${DEFAULT-VALUE})")
  float temperature;

  @Option(names = "--ttft-slo", defaultValue = "1s", description = "TTFT SLO of both models (default: ${DEFAULT-VALUE})")
  String ttftSlo;

  @Option(names = "--tpot-slo", defaultValue = "25ms", description = "TPOT SLO of both models (default: ${DEFAULT-VALUE})")
  String tpotSlo;

  @Option(names = "--idle-eviction", defaultValue = "45s",
      description = "idle time before a model's weights are evicted, elastic mode (default: ${DEFAULT-VALUE})")
  String idleEviction;

  @Option(names = "--modes", split = ",", defaultValue = "elastic,static", description = "runs (default: ${DEFAULT-VALUE})")
  List<String> modes;

  @Option(names = "--csv", defaultValue = "balloon-pages.csv", description = "pages over time (default: ${DEFAULT-VALUE})")
  Path csv;

  @Option(names = "--seed", defaultValue = "42", description = "workload seed (default: ${DEFAULT-VALUE})")
  long seed;

  @Option(names = "--threads", defaultValue = "1", description = "host forward-pass threads (default: ${DEFAULT-VALUE})")
  int threads;

  @Option(names = "--verbose", description = "log every memory decision")
  boolean verbose;

  private static final List<String> MODELS = List.of("A", "B");

  @Override
  public Integer call() throws Exception {
    PrintStream out = System.out;
    if (!verbose) ((ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger("io.prism")).setLevel(ch.qos.logback.classic.Level.WARN);
    Duration burstLen = duration(burst);
    Duration ttft = duration(ttftSlo);
    Duration tpot = duration(tpotSlo);
    ModelConfig cfg = model.startsWith("random:") ? RandomModels.config(model.substring(7)) : ModelLoader.load(model, null).config();
    long weightBytes = cfg.parameterCount() * (backend.equals("cuda") ? 2L : 4L);
    long budget = gpuMemory != null ? size(gpuMemory) : 2 * weightBytes + size(kvMemory);
    List<Arrival> arrivals = workload(cfg.vocabSize(), burstLen);
    out.printf(Locale.ROOT, "prism bench balloon: 2 x %s on one %s device, budget %.1f MiB (weights 2 x %.1f MiB); %d bursts of %s at %.1f req/s, "
        + "%d+%d tokens; SLO TTFT %d ms, TPOT %d ms%n", model, backend, budget / 1048576.0, weightBytes / 1048576.0, bursts, burst, rate,
        promptTokens, maxTokens, ttft.toMillis(), tpot.toMillis());
    List<BalloonRecorder.Result> results = new ArrayList<>();
    List<BalloonRecorder> runs = new ArrayList<>();
    for (String mode : modes) {
      if (!mode.equals("elastic") && !mode.equals("static")) throw new IllegalArgumentException("--modes: elastic or static, got " + mode);
      BalloonRecorder rec = run(mode, budget, arrivals, ttft, tpot, out);
      runs.add(rec);
      results.addAll(rec.results(MODELS, ttft, tpot, burstLen.multipliedBy(bursts)));
    }
    out.println();
    BalloonRecorder.printHeader(out);
    for (BalloonRecorder.Result r : results) BalloonRecorder.print(out, r);
    Path parent = csv.toAbsolutePath().getParent();
    if (parent != null) Files.createDirectories(parent);
    try (Writer w = Files.newBufferedWriter(csv)) {
      w.write("mode,seconds,model,pages_held,pages_in_use,resident,capacity_pages\n");
      for (BalloonRecorder rec : runs) rec.writeCsv(w);
    }
    out.println("pages over time: " + csv.toAbsolutePath());
    return 0;
  }

  /** One request to send at {@code atNanos} after the start. */
  private record Arrival(long atNanos, String model, int[] prompt, long seed) {}

  private List<Arrival> workload(int vocab, Duration burstLen) {
    SplittableRandom rnd = new SplittableRandom(seed);
    List<Arrival> out = new ArrayList<>();
    for (int b = 0; b < bursts; b++) {
      double t = b * burstLen.toNanos() / 1e9;
      double end = (b + 1) * burstLen.toNanos() / 1e9;
      while (true) {
        t += -Math.log(1 - rnd.nextDouble()) / rate;
        if (t >= end) break;
        int[] prompt = new int[promptTokens];
        for (int i = 0; i < prompt.length; i++) prompt[i] = 3 + rnd.nextInt(vocab - 3);
        out.add(new Arrival((long) (t * 1e9), MODELS.get(b % 2), prompt, rnd.nextLong()));
      }
    }
    return out;
  }

  private BalloonRecorder run(String mode, long budget, List<Arrival> arrivals, Duration ttft, Duration tpot, PrintStream out) throws Exception {
    boolean elastic = mode.equals("elastic");
    Map<String, Object> o = new HashMap<>();
    o.put("prism.node.backend", backend);
    o.put("prism.node.gpu-count", 1);
    o.put("prism.gpu.memory-budget", budget);
    o.put("prism.gpu.host-page-size", size(pageSize));
    o.put("prism.gpu.host-threads", threads);
    o.put("prism.gpu.evict-idle-models", elastic);
    o.put("prism.gpu.idle-eviction", idleEviction);
    o.put("prism.gpu.report-interval", "200ms");
    o.put("prism.engine.max-running-sequences", 64);
    o.put("pekko.remote.artery.canonical.port", 0);
    o.put("pekko.loglevel", "WARNING");
    Config config = PrismConfig.load(ConfigFactory.parseMap(o));
    PrismSettings settings = PrismSettings.from(PrismNode.withGpuDispatchers(config, 0));
    List<Device> devices = Devices.open(settings);
    PrismNode node = PrismNode.start("prism-bench-" + mode, config, devices, ModelStore.fileLoader(backend));
    ScheduledExecutorService sampler = Executors.newSingleThreadScheduledExecutor();
    try {
      node.awaitLocalGpus(Duration.ofSeconds(60));
      GpuId gpu = node.localGpus().get(0);
      for (String id : MODELS) register(node, new ModelSpec(id, model, null, ttft, tpot, 0));
      GpuStatus loaded = status(node, gpu);
      int kvPages = loaded.capacityPages();
      if (!elastic) { // the static partition: half the KV pages each (applied through the lazy-limit path)
        for (String id : MODELS) register(node, new ModelSpec(id, model, null, ttft, tpot, 0, 0, Math.max(1, kvPages / 2)));
      }
      BalloonRecorder warm = new BalloonRecorder(mode + "-warmup", System.nanoTime());
      ActorRef<GenerationEvent> warmCollector = node.system().systemActorOf(warm.collector(), "bench-warmup", Props.empty());
      for (String id : MODELS) send(node, warm, warmCollector, "warm-" + id, id, new int[] {3, 4, 5, 6}, 1, 8, temperature);
      awaitEnded(warm, Duration.ofMinutes(2));

      long start = System.nanoTime();
      BalloonRecorder rec = new BalloonRecorder(mode, start);
      ActorRef<GenerationEvent> collector = node.system().systemActorOf(rec.collector(), "bench-collector", Props.empty());
      sampler.scheduleAtFixedRate(() -> node.gpuRef(gpu).<GpuStatus>ask(GpuActor.GetStatus::new, Duration.ofSeconds(5))
          .thenAccept(rec::sample), 0, 50, TimeUnit.MILLISECONDS);
      int n = 0;
      for (Arrival a : arrivals) {
        long wait = start + a.atNanos() - System.nanoTime();
        if (wait > 0) TimeUnit.NANOSECONDS.sleep(wait);
        send(node, rec, collector, mode + "-" + (n++), a.model(), a.prompt(), a.seed(), maxTokens, temperature);
      }
      awaitEnded(rec, Duration.ofMinutes(5));
      GpuStatus end = status(node, gpu);
      out.printf(Locale.ROOT, "%-8s %d requests in %.1f s; KV capacity %d pages at load;", mode, arrivals.size(), (System.nanoTime() - start) / 1e9,
          kvPages);
      for (GpuStatus.ModelStatus m : end.models()) {
        out.printf(Locale.ROOT, " %s: %d steps, %d preemptions, %d pages reclaimed from it, %d preempted by reclaim, %d evictions,"
            + " %d activations (%.1f ms total);", m.modelId(), m.steps(), m.preemptions(), m.books().pagesReclaimed(), m.books().preempted(),
            m.books().evictions(), m.books().activations(), m.books().activationNanosTotal() / 1e6);
      }
      out.println(end.invariantViolation().isEmpty() ? "" : " PAGE CONSERVATION BROKEN: " + end.invariantViolation());
      return rec;
    } finally {
      sampler.shutdownNow();
      node.close();
    }
  }

  private static void register(PrismNode node, ModelSpec spec) throws Exception {
    GlobalPlacementActor.RegisterReply r = node.register(spec).toCompletableFuture().get(10, TimeUnit.MINUTES);
    if (r instanceof GlobalPlacementActor.RegisterFailed f) throw new IllegalStateException("model " + spec.id() + " could not be loaded: " + f.message());
  }

  private static GpuStatus status(PrismNode node, GpuId gpu) throws Exception {
    return node.gpuRef(gpu).<GpuStatus>ask(GpuActor.GetStatus::new, Duration.ofSeconds(10)).toCompletableFuture().get(20, TimeUnit.SECONDS);
  }

  private static void send(PrismNode node, BalloonRecorder rec, ActorRef<GenerationEvent> collector, String id, String model, int[] prompt,
      long seed, int maxTokens, float temperature) {
    rec.sent(id, model);
    // top-p 1: no sort of the vocabulary per token (a 128k vocabulary would make host sampling the bottleneck)
    SamplingParams p = new SamplingParams(temperature, 1f, 0, seed, maxTokens, List.of(), true);
    node.generate(new GenerateRequest(id, model, null, prompt, false, p), collector);
  }

  private static void awaitEnded(BalloonRecorder rec, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!rec.allEnded()) {
      if (System.nanoTime() > deadline) throw new IllegalStateException("requests did not end within " + timeout.toSeconds() + " s");
      Thread.sleep(20);
    }
  }

  private static long size(String s) {
    return ConfigFactory.parseString("v = \"" + s + "\"").getBytes("v");
  }

  private static Duration duration(String s) {
    return ConfigFactory.parseString("v = \"" + s + "\"").getDuration("v");
  }
}
