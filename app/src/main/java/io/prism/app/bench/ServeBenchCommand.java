package io.prism.app.bench;

import com.typesafe.config.ConfigFactory;
import io.prism.actors.ModelSpec;
import io.prism.actors.model.ModelStore;
import io.prism.actors.PrismConfig;
import io.prism.actors.PrismNode;
import io.prism.actors.PrismSettings;
import io.prism.runtime.forward.KernelWarmUp;
import io.prism.runtime.model.LoadedModel;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code prism bench serve}: what the server path costs. For each concurrency C, C streaming
 * completions at once (token-id prompts of {@code --prompt-tokens}, exactly {@code --max-tokens}
 * generated with {@code ignore_eos}, greedy), first against the engine alone ({@link
 * EngineBaseline}: the same device, memory budget, forward threads and engine options, stepped in a
 * loop), then against the whole server in this JVM (actors and HTTP on 127.0.0.1, port 0; {@link
 * InProcessServer}) through a client that takes little CPU ({@link SseClient}: one blocking socket
 * per stream, no JSON per token).
 *
 * <p>On the host backend the engine's and the server's rounds alternate (engine, server, engine,
 * ...; the engine on its own device beside the server's), so that both see the same background
 * load of a shared machine; on CUDA the engine's rounds run first on a device of their own, closed
 * before the server opens the GPU.
 *
 * <p>Per C it prints output tokens/s (all streams together, over {@code --rounds} rounds, each
 * from its first request to its last response) and that of the fastest round (the one least
 * disturbed by other processes of a shared machine), mean TPOT and mean TTFT for the engine and
 * the server, and the ratios server/engine; the goal is a tokens/s ratio of at least 0.95 at
 * every C. Each configuration gets one warm-up round first. Every request must end: the last
 * column counts those that ended normally; a request that fails or is lost makes the command fail
 * (exit 1) after the table.
 *
 * <p>On a machine with few cores the client's and the server's threads share them with the
 * forward pass; {@code --threads} (default 1) sets the forward threads of both sides.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
    description = "Server over HTTP (loopback, C concurrent streams) against the engine alone: tok/s, TPOT, TTFT.")
public final class ServeBenchCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--model", defaultValue = "random:stories15M", description = "random:NAME or a model file (default: ${DEFAULT-VALUE})")
  String model;

  @Option(names = "--backend", defaultValue = "host", description = "host or cuda (default: ${DEFAULT-VALUE})")
  String backend;

  @Option(names = "--concurrency", split = ",", defaultValue = "1,8,32,64", description = "concurrent streams (default: ${DEFAULT-VALUE})")
  List<Integer> concurrency;

  @Option(names = "--prompt-tokens", defaultValue = "64", description = "prompt length (default: ${DEFAULT-VALUE})")
  int promptTokens;

  @Option(names = "--max-tokens", defaultValue = "128", description = "generated tokens per request (default: ${DEFAULT-VALUE})")
  int maxTokens;

  @Option(names = "--rounds", defaultValue = "3", description = "measured rounds per C and side (default: ${DEFAULT-VALUE})")
  int rounds;

  @Option(names = "--threads", defaultValue = "1", description = "forward-pass threads (host backend) (default: ${DEFAULT-VALUE})")
  int threads;

  @Option(names = "--gpu-memory", defaultValue = "1GiB", description = "memory budget of the device (default: ${DEFAULT-VALUE})")
  String gpuMemory;

  @Option(names = "--warm-up", defaultValue = "true", negatable = true, description = "JIT warm-up of the host kernels first (default: on)")
  boolean warmUp;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    int maxC = concurrency.stream().mapToInt(Integer::intValue).max().orElse(0);
    if (maxC < 1 || concurrency.stream().anyMatch(c -> c < 1) || promptTokens < 1 || maxTokens < 2 || rounds < 1 || threads < 1) {
      throw new IllegalArgumentException("need --concurrency values >= 1, --prompt-tokens >= 1, --max-tokens >= 2, --rounds >= 1, --threads >= 1");
    }
    Map<String, Object> overrides = new HashMap<>();
    overrides.put("prism.node.backend", backend);
    overrides.put("prism.node.gpu-count", 1);
    overrides.put("prism.gpu.host-threads", threads);
    overrides.put("prism.gpu.memory-budget", gpuMemory);
    overrides.put("prism.engine.max-running-sequences", Math.max(maxC, 1));
    overrides.put("prism.gpu.evict-idle-models", "off");
    PrismSettings settings = PrismSettings.from(PrismNode.withGpuDispatchers(PrismConfig.load(ConfigFactory.parseMap(overrides)), 0));
    ModelSpec modelSpec = new ModelSpec("bench", model, null, Duration.ofMinutes(10), Duration.ofMinutes(1), 0);
    LoadedModel loaded = ModelStore.fileLoader(backend).load(modelSpec);
    if (promptTokens + maxTokens > loaded.config().maxSeqLen()) {
      throw new IllegalArgumentException("--prompt-tokens + --max-tokens must fit the context of " + loaded.config().maxSeqLen());
    }
    out.printf("prism bench serve: %s on %s, %d forward thread(s), prompt %d tokens, %d generated (ignore_eos, greedy), %d rounds per C%n",
        model, backend, threads, promptTokens, maxTokens, rounds);
    out.flush();
    if (warmUp && backend.equals("host")) KernelWarmUp.run(Duration.ofSeconds(3));
    LoadStats[] engine = new LoadStats[concurrency.size()];
    LoadStats[] server = new LoadStats[concurrency.size()];
    long roundTimeoutMillis = Duration.ofMinutes(10).toMillis();
    boolean interleave = backend.equals("host");
    EngineBaseline base = new EngineBaseline(settings, loaded);
    try {
      if (!interleave) { // one device at a time on a GPU: the engine's rounds first, then the server's
        for (int i = 0; i < concurrency.size(); i++) engine[i] = engineRounds(base, concurrency.get(i));
        base.close();
        base = null;
      }
      try (InProcessServer s = InProcessServer.start(overrides);
          HttpLoad load = new HttpLoad(s.port(), maxC, "bench", loaded.config().vocabSize(), loaded.tokenizer().bosId(), roundTimeoutMillis)) {
        s.register(List.of(modelSpec));
        for (int i = 0; i < concurrency.size(); i++) {
          int c = concurrency.get(i);
          load.round(c, -1, promptTokens, maxTokens, new LoadStats()); // warm-up
          if (interleave) {
            base.round(c, -1, promptTokens, maxTokens, new LoadStats());
            engine[i] = new LoadStats();
          }
          server[i] = new LoadStats();
          for (int r = 0; r < rounds; r++) { // alternating, so that both sides see the same background load
            if (interleave) base.round(c, r, promptTokens, maxTokens, engine[i]);
            load.round(c, r, promptTokens, maxTokens, server[i]);
          }
        }
      }
    } finally {
      if (base != null) base.close();
    }
    printTable(out, engine, server);
    int failed = 0;
    for (LoadStats st : engine) failed += st.failed();
    for (LoadStats st : server) failed += st.failed();
    if (failed > 0) throw new IllegalStateException(failed + " benchmark request(s) failed or never ended");
    return 0;
  }

  /** A warm-up round, then the measured rounds of the engine alone at concurrency {@code c}. */
  private LoadStats engineRounds(EngineBaseline base, int c) {
    base.round(c, -1, promptTokens, maxTokens, new LoadStats());
    LoadStats st = new LoadStats();
    for (int r = 0; r < rounds; r++) base.round(c, r, promptTokens, maxTokens, st);
    return st;
  }

  private void printTable(PrintWriter out, LoadStats[] engine, LoadStats[] server) {
    out.printf("%4s | %8s %8s %7s %7s | %8s %8s %7s %7s | %6s %6s %6s %6s | %s%n",
        "C", "engine", "best", "TPOT", "TTFT", "server", "best", "TPOT", "TTFT", "tok/s", "best", "TPOT", "TTFT", "ended ok");
    out.printf("%4s | %8s %8s %7s %7s | %8s %8s %7s %7s | %6s %6s %6s %6s | %s%n",
        "", "tok/s", "tok/s", "ms", "ms", "tok/s", "tok/s", "ms", "ms", "ratio", "ratio", "ratio", "ratio", "server engine");
    for (int i = 0; i < concurrency.size(); i++) {
      LoadStats e = engine[i], s = server[i];
      out.printf("%4d | %8.1f %8.1f %7.2f %7.1f | %8.1f %8.1f %7.2f %7.1f | %6.3f %6.3f %6.3f %6.3f | %d/%d %d/%d%n", concurrency.get(i),
          e.tokensPerSecond(), e.bestRoundTokensPerSecond(), e.meanTpotMillis(), e.meanTtftMillis(),
          s.tokensPerSecond(), s.bestRoundTokensPerSecond(), s.meanTpotMillis(), s.meanTtftMillis(),
          s.tokensPerSecond() / e.tokensPerSecond(), s.bestRoundTokensPerSecond() / e.bestRoundTokensPerSecond(),
          s.meanTpotMillis() / e.meanTpotMillis(), s.meanTtftMillis() / e.meanTtftMillis(),
          s.ended() - s.failed(), s.requests(), e.ended() - e.failed(), e.requests());
    }
    out.flush();
  }
}
