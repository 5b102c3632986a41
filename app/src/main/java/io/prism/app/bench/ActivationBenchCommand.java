package io.prism.app.bench;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.prism.actors.Devices;
import io.prism.actors.ModelSpec;
import io.prism.actors.PrismConfig;
import io.prism.actors.PrismNode;
import io.prism.actors.PrismSettings;
import io.prism.actors.frontend.GenerateRequest;
import io.prism.actors.frontend.GenerationEvent;
import io.prism.actors.gpu.GpuStatus;
import io.prism.actors.model.ModelStore;
import io.prism.actors.placement.GlobalPlacementActor;
import io.prism.runtime.engine.Device;
import io.prism.runtime.memory.HostTier;
import io.prism.runtime.sampling.SamplingParams;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code prism bench activation}: activation time per weight tier (ServerlessLLM's GPU / host /
 * disk) against its floor. {@code --models} instances of one model are registered on one device
 * that holds only some at once, with a host tier ({@code prism.node.host-tier-bytes}) that holds
 * only some of the evicted ones; one short greedy request goes to each model in turn for {@code
 * --rounds} rounds, forth and back (so the recently evicted come first and the host tier has hits),
 * and every request after the first round finds its model evicted, in the host or the disk tier. Prints per tier: activations, mean and max seconds (from the models' books: from
 * the request's arrival at the model to its weights being back, the reclaim that evicts another
 * model included, and, from disk, the file read or the regeneration of {@code random:} weights),
 * the floor and the ratio. Floors: host = weight bytes / {@code --h2d-gbps} (pinned host-to-device
 * bandwidth; 0 on the host backend, where activation copies nothing); disk = weight bytes / the read
 * bandwidth measured on the model file now (for {@code random:} models, which have no file, the
 * regeneration has no floor: "-").
 *
 * <p>On an H200 (about 110-130 GiB budget, 20 models of 8B shape, a host tier of 96 GiB):
 * {@code prism bench activation --backend cuda --model random:llama-3.1-8b --models 20 --gpu-memory
 * 120GiB --host-tier 96GiB --rounds 2}.
 */
@Command(name = "activation", mixinStandardHelpOptions = true,
    description = "Activation time per weight tier (host, disk) against its floor, with more models than fit on one GPU.")
public final class ActivationBenchCommand implements Callable<Integer> {
  @Option(names = "--model", defaultValue = "../shared/models/stories260K.bin", paramLabel = "PATH|random:NAME",
      description = "model of every instance (default: ${DEFAULT-VALUE})")
  String model;

  @Option(names = "--tokenizer", description = "llama2.c tokenizer for a .bin model (default: tok512.bin beside it, if there)")
  String tokenizer;

  @Option(names = "--backend", defaultValue = "host", description = "host or cuda (default: ${DEFAULT-VALUE})")
  String backend;

  @Option(names = "--models", defaultValue = "6", description = "instances registered on the one device (default: ${DEFAULT-VALUE})")
  int models;

  @Option(names = "--gpu-memory", defaultValue = "4MiB", description = "device budget (default: ${DEFAULT-VALUE})")
  String gpuMemory;

  @Option(names = "--host-tier", defaultValue = "2560KiB", description = "host tier bound (default: ${DEFAULT-VALUE})")
  String hostTier;

  @Option(names = "--page-size", defaultValue = "64KiB", description = "host page size (default: ${DEFAULT-VALUE})")
  String pageSize;

  @Option(names = "--rounds", defaultValue = "3", description = "requests per model (default: ${DEFAULT-VALUE})")
  int rounds;

  @Option(names = "--h2d-gbps", description = "pinned host-to-device bandwidth for the host floor, GB/s (default: 0 on host, 50 on cuda)")
  Double h2dGbps;

  @Override
  public Integer call() throws Exception {
    PrintStream out = System.out;
    Map<String, Object> o = new HashMap<>();
    o.put("prism.node.backend", backend);
    o.put("prism.node.gpu-count", 1);
    o.put("prism.node.host-tier-bytes", hostTier);
    o.put("prism.gpu.memory-budget", gpuMemory);
    o.put("prism.gpu.host-page-size", pageSize);
    o.put("prism.gpu.reserve-pages", 2);
    o.put("prism.gpu.swap-idle-after", "0s");
    o.put("prism.placement.round-interval", "0s");
    o.put("pekko.remote.artery.canonical.port", 0);
    o.put("pekko.loglevel", "WARNING");
    Config config = PrismConfig.load(ConfigFactory.parseMap(o));
    PrismSettings settings = PrismSettings.from(PrismNode.withGpuDispatchers(config, 0));
    List<Device> devices = Devices.open(settings);
    String tok = tokenizer;
    if (tok == null && model.endsWith(".bin") && Files.exists(Path.of(model).resolveSibling("tok512.bin"))) {
      tok = Path.of(model).resolveSibling("tok512.bin").toString();
    }
    double diskGbps = model.startsWith("random:") ? 0 : readGbps(Path.of(model));
    try (PrismNode node = PrismNode.start("prism-bench-activation", config, devices, ModelStore.fileLoader(backend))) {
      node.awaitLocalGpus(Duration.ofSeconds(120));
      for (int i = 0; i < models; i++) {
        GlobalPlacementActor.RegisterReply r = node.register(new ModelSpec("act-" + i, model, tok, Duration.ofSeconds(600), Duration.ofSeconds(60), 0))
            .toCompletableFuture().get(30, TimeUnit.MINUTES);
        if (!(r instanceof GlobalPlacementActor.Registered)) throw new IllegalStateException("act-" + i + " not registered: " + r);
      }
      long hostPeak = 0;
      for (int round = 0; round < rounds; round++) {
        for (int k = 0; k < models; k++) {
          int i = round % 2 == 0 ? k : models - 1 - k; // back and forth: the recently evicted come first, so the host tier hits
          generate(node, "act-" + round + "-" + i, "act-" + i);
          HostTier.Usage u = node.hostTier().usage();
          hostPeak = Math.max(hostPeak, u.usedBytes());
          if (u.usedBytes() > u.limitBytes()) throw new IllegalStateException("host tier over its bound: " + u);
        }
      }
      GpuStatus gpu = node.gpus().toCompletableFuture().get(60, TimeUnit.SECONDS).get(0);
      long weightBytes = gpu.models().get(0).weightBytes();
      double h2d = h2dGbps != null ? h2dGbps : backend.equals("cuda") ? 50 : 0;
      long hostN = 0, hostNanos = 0, diskN = 0, diskNanos = 0;
      for (GpuStatus.ModelStatus m : gpu.models()) {
        hostN += m.tiers().hostActivations();
        hostNanos += m.tiers().hostActivationNanos();
        diskN += m.tiers().diskActivations();
        diskNanos += m.tiers().diskActivationNanos();
      }
      out.printf(Locale.ROOT, "activation bench: %d x %s on %s (%s budget), host tier %s (peak %.1f MiB), weights %.2f MiB each, %d rounds%n",
          models, model, gpu.description(), gpuMemory, hostTier, hostPeak / 1048576.0, weightBytes / 1048576.0, rounds);
      out.printf(Locale.ROOT, "%-5s %12s %12s %12s %10s%n", "tier", "activations", "mean s", "floor s", "ratio");
      row(out, "host", hostN, hostNanos, h2d > 0 ? weightBytes / (h2d * 1e9) : 0);
      row(out, "disk", diskN, diskNanos, diskGbps > 0 ? weightBytes / (diskGbps * 1e9) : -1);
      out.printf(Locale.ROOT, "floors: host = bytes / %.1f GB/s pinned H2D%s; disk = bytes / %s%n", h2d, h2d > 0 ? "" : " (host backend: no copy)",
          diskGbps > 0 ? String.format(Locale.ROOT, "%.2f GB/s read from %s now", diskGbps, model) : "- (random weights are regenerated)");
      return 0;
    }
  }

  private static void row(PrintStream out, String tier, long n, long nanos, double floorSeconds) {
    double mean = n == 0 ? 0 : nanos / 1e9 / n;
    String floor = floorSeconds < 0 ? "-" : String.format(Locale.ROOT, "%.6f", floorSeconds);
    String ratio = floorSeconds <= 0 || n == 0 ? "-" : String.format(Locale.ROOT, "%.1fx", mean / floorSeconds);
    out.printf(Locale.ROOT, "%-5s %12d %12.6f %12s %10s%n", tier, n, mean, floor, ratio);
  }

  /**
   * Sequential read bandwidth of {@code file} in GB/s: the best of three reads in 1 MiB blocks (the
   * page cache serves the later ones, as it serves a reload of a recently read model).
   */
  static double readGbps(Path file) throws Exception {
    byte[] buf = new byte[1 << 20];
    double best = 0;
    for (int r = 0; r < 3; r++) {
      long t0 = System.nanoTime(), bytes = 0;
      try (InputStream in = Files.newInputStream(file)) {
        for (int n; (n = in.read(buf)) > 0; ) bytes += n;
      }
      best = Math.max(best, bytes / (double) Math.max(1, System.nanoTime() - t0));
    }
    return best;
  }

  private static void generate(PrismNode node, String requestId, String modelId) throws Exception {
    CompletableFuture<GenerationEvent> end = new CompletableFuture<>();
    ActorRef<GenerationEvent> ref = node.system().systemActorOf(Behaviors.receive(GenerationEvent.class).onAnyMessage(e -> {
      if (e instanceof GenerationEvent.Completed || e instanceof GenerationEvent.Rejected) {
        end.complete(e);
        return Behaviors.stopped();
      }
      return Behaviors.same();
    }).build(), "bench-" + requestId, Props.empty());
    node.generate(new GenerateRequest(requestId, modelId, "Once upon a time", null, true, SamplingParams.greedy(4)), ref);
    GenerationEvent e = end.get(30, TimeUnit.MINUTES);
    if (!(e instanceof GenerationEvent.Completed c) || c.reason() == io.prism.runtime.engine.FinishReason.FAILED) {
      throw new IllegalStateException(requestId + " for " + modelId + " did not complete: " + e);
    }
  }
}
