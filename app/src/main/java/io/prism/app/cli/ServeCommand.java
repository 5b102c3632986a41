package io.prism.app.cli;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import io.prism.http.PrismServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code prism serve}: starts a Prism node with the OpenAI-compatible HTTP API. With no flags: a
 * one-node cluster that joins itself, two host "GPUs" of {@code prism.gpu.memory-budget} each,
 * every model of the model directory registered and placed, HTTP on 127.0.0.1:8000. Runs until
 * interrupted (Ctrl-C stops it cleanly: requests in flight fail, pages go back). A {@code --host}
 * other hosts can reach needs {@code --api-key} (or {@code PRISM_API_KEY}), else it refuses to
 * start (exit code 1, the fix on stderr) unless {@code --allow-unauthenticated}.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
    description = "Start a Prism node with the OpenAI-compatible HTTP API (a one-node cluster by default).")
public final class ServeCommand implements Callable<Integer> {
  @Option(names = "--models", paramLabel = "DIR",
      description = "Model directory (default: env PRISM_MODELS, else ./models, else ../shared/models).")
  Path models;

  @Option(names = "--host", description = "HTTP interface (default 127.0.0.1, prism.http.host).")
  String host;

  @Option(names = "--port", description = "HTTP port (default 8000, prism.http.port; 0 = any free port).")
  Integer port;

  @Option(names = "--backend", description = "Devices: host (CPU stand-in) or cuda (default host, prism.node.backend).")
  String backend;

  @Option(names = "--gpus", description = "Number of devices (host: how many to create; cuda: 0 = all) (default 2).")
  Integer gpus;

  @Option(names = "--gpu-memory", paramLabel = "SIZE", description = "Memory budget per device, e.g. 256MiB (prism.gpu.memory-budget).")
  String gpuMemory;

  @Option(names = "--cluster-port", description = "Artery port of this node (default 25520; 0 = any free port).")
  Integer clusterPort;

  @Option(names = "--seed", paramLabel = "ADDRESS",
      description = "Seed node to join, e.g. pekko://prism@10.0.0.1:25520 (repeatable); without seeds the node joins itself.")
  List<String> seeds;

  @Option(names = "--api-key", paramLabel = "KEY",
      description = "API key of /v1/* (Authorization: Bearer KEY; several: comma-separated) (prism.http.api-key; "
          + "env PRISM_API_KEY, which other users cannot see in ps).")
  String apiKey;

  @Option(names = "--admin-api-key", paramLabel = "KEY",
      description = "API key of /admin/* (prism.http.admin-api-key; env PRISM_ADMIN_API_KEY). With only --api-key the admin API is disabled (403).")
  String adminApiKey;

  @Option(names = "--allow-unauthenticated",
      description = "Serve a non-loopback --host without an API key (prism.http.allow-unauthenticated; only behind an authenticating proxy).")
  boolean allowUnauthenticated;

  @Option(names = "--config", paramLabel = "FILE", description = "HOCON file with settings (see conf/); flags win over it.")
  Path config;

  @Override
  public Integer call() throws Exception {
    Config c = ConfigFactory.empty();
    if (models != null) c = c.withValue("prism.models.dir", ConfigValueFactory.fromAnyRef(models.toString()));
    if (host != null) c = c.withValue("prism.http.host", ConfigValueFactory.fromAnyRef(host));
    if (port != null) c = c.withValue("prism.http.port", ConfigValueFactory.fromAnyRef(port));
    if (backend != null) c = c.withValue("prism.node.backend", ConfigValueFactory.fromAnyRef(backend));
    if (gpus != null) c = c.withValue("prism.node.gpu-count", ConfigValueFactory.fromAnyRef(gpus));
    if (gpuMemory != null) c = c.withValue("prism.gpu.memory-budget", ConfigValueFactory.fromAnyRef(gpuMemory));
    if (apiKey != null) c = c.withValue("prism.http.api-key", ConfigValueFactory.fromAnyRef(apiKey));
    if (adminApiKey != null) c = c.withValue("prism.http.admin-api-key", ConfigValueFactory.fromAnyRef(adminApiKey));
    if (allowUnauthenticated) c = c.withValue("prism.http.allow-unauthenticated", ConfigValueFactory.fromAnyRef(true));
    if (clusterPort != null) c = c.withValue("pekko.remote.artery.canonical.port", ConfigValueFactory.fromAnyRef(clusterPort));
    if (seeds != null && !seeds.isEmpty()) c = c.withValue("pekko.cluster.seed-nodes", ConfigValueFactory.fromIterable(seeds));
    if (config != null) {
      if (!Files.isRegularFile(config)) throw new IllegalArgumentException("no config file at " + config.toAbsolutePath());
      c = c.withFallback(ConfigFactory.parseFile(config.toFile()));
    }
    PrismServer server = PrismServer.start(c);
    // SIGTERM / Ctrl-C: leave gracefully (models move to other GPUs, requests finish; prism.node.drain-timeout)
    Runtime.getRuntime().addShutdownHook(new Thread(server::leave, "prism-shutdown"));
    System.out.println("Prism serving on http://" + server.node().system().settings().config().getString("prism.http.host") + ":"
        + server.port() + "  models: " + server.models());
    server.node().system().getWhenTerminated().toCompletableFuture().join();
    return 0;
  }
}
