package io.prism.app.bench.cluster;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.prism.actors.PrismConfig;
import io.prism.app.bench.DurationConverter;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code prism bench failover}: how a cluster of {@code --nodes} local JVMs (CPU devices, the
 * shipped cluster profile) lives through node failures under a steady load: kill -9 of a node with
 * models, kill -9 of the singleton's node, SIGTERM with requests in flight, a rolling restart, and a
 * killed node's restart (does it rejoin and get models?). One fresh cluster per scenario; one row per
 * scenario on stdout (columns: {@link FailoverRow}), then the distinct failures of each scenario and
 * the failure-detection settings the nodes ran with. Progress on stderr; node logs under {@code
 * --log-dir}.
 *
 * <p>The goals it measures (Prism issue 10): zero hung requests, zero failures for models not on
 * the node hit, affected models served again within 15 s, the catalog intact, zero failures for a
 * SIGTERM or a rolling restart. Exit code 0 whatever the numbers (a benchmark, not a test; the
 * multi-process tests assert them).
 */
@Command(name = "failover", mixinStandardHelpOptions = true,
    description = "Node failures under steady load on a local multi-JVM cluster: requests failed, hung, recovery time, catalog.")
public final class FailoverBenchCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--scenarios", split = ",", defaultValue = "kill-model-node,kill-singleton-node,sigterm,rolling-restart,rejoin",
      description = "scenarios to run (default: ${DEFAULT-VALUE})")
  List<String> scenarios;

  @Option(names = "--nodes", defaultValue = "3", description = "cluster nodes, separate JVMs (default: ${DEFAULT-VALUE})")
  int nodes;

  @Option(names = "--gpus-per-node", defaultValue = "1", description = "host devices per node (default: ${DEFAULT-VALUE})")
  int gpusPerNode;

  @Option(names = "--gpu-memory", defaultValue = "128MiB", description = "memory budget per device (default: ${DEFAULT-VALUE})")
  String gpuMemory;

  @Option(names = "--models", defaultValue = "6", description = "models registered, m0..m(N-1) (default: ${DEFAULT-VALUE})")
  int models;

  @Option(names = "--model", defaultValue = "random:stories260K", description = "what every model is (default: ${DEFAULT-VALUE})")
  String model;

  @Option(names = "--rate", defaultValue = "2", description = "requests/s per model (default: ${DEFAULT-VALUE})")
  double rate;

  @Option(names = "--prompt-tokens", defaultValue = "16", description = "prompt length (default: ${DEFAULT-VALUE})")
  int promptTokens;

  @Option(names = "--max-tokens", defaultValue = "64", description = "tokens generated per request (default: ${DEFAULT-VALUE})")
  int maxTokens;

  @Option(names = "--request-timeout", converter = DurationConverter.class, defaultValue = "30s",
      description = "client bound per request; a request not answered by then counts as hung (default: ${DEFAULT-VALUE})")
  Duration requestTimeout;

  @Option(names = "--warmup", converter = DurationConverter.class, defaultValue = "5s", description = "load before the event (default: ${DEFAULT-VALUE})")
  Duration warmup;

  @Option(names = "--duration", converter = DurationConverter.class, defaultValue = "30s",
      description = "load after the event (per phase for rejoin) (default: ${DEFAULT-VALUE})")
  Duration duration;

  @Option(names = "--profile", defaultValue = "conf/cluster-3-nodes.conf",
      description = "HOCON profile of the nodes, looked up from the working directory upwards; 'none' for none (default: ${DEFAULT-VALUE})")
  String profile;

  @Option(names = "--node-opt", paramLabel = "KEY=VALUE", description = "setting of every node as -DKEY=VALUE (wins over the profile; repeatable)")
  Map<String, String> nodeOptions = new LinkedHashMap<>();

  @Option(names = "--client-retries", defaultValue = "2",
      description = "retries of a retryable failure (x-should-retry: true, 408/409/429/5xx without x-should-retry: false, a lost connection), "
          + "as the OpenAI clients make them; 0 counts every such failure (default: ${DEFAULT-VALUE})")
  int clientRetries;

  @Option(names = "--log-dir", defaultValue = "target/prism-cluster", description = "node logs go under it (default: ${DEFAULT-VALUE})")
  Path logDir;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    List<FailoverScenario> chosen = new ArrayList<>();
    for (String s : scenarios) chosen.add(FailoverScenario.parse(s));
    Path profilePath = "none".equals(profile) ? null : findUpwards(Path.of(profile));
    FailoverRun.Settings settings = new FailoverRun.Settings(nodes, models, model, rate, promptTokens, maxTokens, requestTimeout, warmup, duration,
        profilePath, nodeOptions, gpusPerNode, gpuMemory, logDir, clientRetries);
    out.printf("prism bench failover: %d nodes x %d host GPU(s), %d x %s, %.1f req/s per model (%d-token prompts, %d tokens), client bound %d s,"
        + " %d s warm-up, %d s after the event, %d client retries; profile %s%n", nodes, gpusPerNode, models, model, rate, promptTokens, maxTokens,
        requestTimeout.toSeconds(), warmup.toSeconds(), duration.toSeconds(), clientRetries, profilePath == null ? "none" : profilePath);
    out.println(settingsLine(profilePath, nodeOptions));
    out.flush();
    List<FailoverRow> rows = new ArrayList<>();
    FailoverRun run = new FailoverRun(settings, err);
    for (FailoverScenario s : chosen) {
      try {
        rows.add(run.run(s));
      } catch (Exception e) {
        err.println("prism bench failover: scenario " + s.label() + " could not run: " + e);
        rows.add(new FailoverRow(s.label(), "-", 0, 0, 0, 0, 0, -1, Double.NaN, Double.NaN, false, "COULD NOT RUN: " + e.getMessage(), Map.of()));
      }
    }
    out.println(FailoverRow.header());
    for (FailoverRow r : rows) out.println(r.line());
    for (FailoverRow r : rows) {
      if (r.failures().isEmpty()) continue;
      out.println(r.scenario() + " failures:");
      r.failures().forEach((k, n) -> out.printf("  %5d  %s%n", n, k));
    }
    out.flush();
    return 0;
  }

  /** {@code p} if it exists, else the first {@code dir/p} that exists for the working directory's parents. */
  static Path findUpwards(Path p) {
    if (p.isAbsolute() || Files.isRegularFile(p)) {
      if (!Files.isRegularFile(p)) throw new IllegalArgumentException("no profile file at " + p);
      return p.toAbsolutePath().normalize();
    }
    for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
      if (Files.isRegularFile(d.resolve(p))) return d.resolve(p).normalize();
    }
    throw new IllegalArgumentException("no profile file " + p + " in the working directory or above it (--profile FILE, or none)");
  }

  /** The failure-detection, downing and lookup settings the nodes resolve (profile and --node-opt over the defaults). */
  static String settingsLine(Path profile, Map<String, String> nodeOptions) {
    Config c = ConfigFactory.parseMap(nodeOptions).withFallback(profile == null ? ConfigFactory.empty() : ConfigFactory.parseFile(profile.toFile()));
    Config r = PrismConfig.load(c);
    String[] keys = {"pekko.cluster.failure-detector.heartbeat-interval", "pekko.cluster.failure-detector.acceptable-heartbeat-pause",
        "pekko.cluster.failure-detector.threshold", "pekko.cluster.downing-provider-class", "pekko.cluster.split-brain-resolver.active-strategy",
        "pekko.cluster.split-brain-resolver.stable-after", "pekko.cluster.split-brain-resolver.down-all-when-unstable",
        "pekko.cluster.singleton-proxy.singleton-identification-interval", "pekko.cluster.down-removal-margin", "pekko.cluster.singleton.hand-over-retry-interval",
        "prism.frontend.placement-cache-ttl", "prism.frontend.resolve-timeout", "prism.frontend.lookup-timeout", "prism.frontend.delivery-timeout",
        "prism.frontend.start-grace", "prism.frontend.token-timeout", "prism.placement.restore-grace", "prism.node.ask-timeout",
        "prism.node.drain-timeout"};
    StringBuilder sb = new StringBuilder("settings:");
    for (String k : keys) {
      String shortKey = k.replace("pekko.cluster.", "").replace("prism.", "");
      sb.append(' ').append(shortKey).append('=').append(r.hasPath(k) ? r.getValue(k).unwrapped() : "unset");
    }
    return sb.toString();
  }
}
