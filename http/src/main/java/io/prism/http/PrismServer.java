package io.prism.http;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.prism.actors.Devices;
import io.prism.actors.placement.GlobalPlacementActor;
import io.prism.actors.ModelSpec;
import io.prism.actors.model.ModelStore;
import io.prism.actors.PrismConfig;
import io.prism.actors.PrismNode;
import io.prism.actors.PrismSettings;
import io.prism.http.security.HttpSecurity;
import io.prism.runtime.engine.Device;
import io.prism.runtime.model.ModelLoader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.stream.Materializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A whole Prism server: a {@link PrismNode} (cluster member with its devices), every model of the
 * model directory registered and placed, and the HTTP API bound. {@code prism serve} runs one; the
 * integration test starts one on port 0.
 *
 * <p>The model directory: {@code prism.models.dir} when set (the CLI's {@code --models}), else
 * the environment variable {@code PRISM_MODELS}, else {@code ./models}, else {@code
 * ../shared/models} (relative to the working directory, the repository root for {@code ./prism}).
 * None existing is not an error: the server starts with an empty catalog. A model's SLOs and page
 * limits come from {@code prism.models.catalog."<id>"} when set there, else the defaults.
 *
 * <p>Security ({@link HttpSecurity}): the API keys and open paths of {@code prism.http}; {@code POST
 * /admin/models} loads files only from {@code prism.models.allowed-roots} (default: the model
 * directory); a non-loopback {@code prism.http.host} without an API key is refused before anything
 * starts, unless {@code prism.http.allow-unauthenticated} is on.
 */
public final class PrismServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(PrismServer.class);

  private final PrismNode node;
  private final ServerBinding binding;
  private final List<String> models;

  private PrismServer(PrismNode node, ServerBinding binding, List<String> models) {
    this.node = node;
    this.binding = binding;
    this.models = models;
  }

  /**
   * Starts a server.
   *
   * @param overrides settings that win over {@code application.conf} and the modules' {@code
   *     reference.conf} (e.g. from command-line flags); may be empty
   * @throws IllegalStateException if the HTTP port cannot be bound or the devices cannot be opened, or
   *     if the HTTP host is not a loopback address and no API key is set ({@link
   *     io.prism.http.security.HttpAuthSettings#checkBind})
   * @throws IllegalArgumentException naming a malformed setting (an API key too short, a model root
   *     that does not exist ...)
   */
  public static PrismServer start(Config overrides) throws Exception {
    Config app = PrismConfig.load(overrides);
    HttpSettings http = HttpSettings.from(app);
    Optional<Path> modelsDir = modelsDir(app);
    HttpSecurity security = HttpSecurity.from(app, modelsDir);
    security.auth().checkBind(http.host());
    Config config = ConfigFactory.parseMap(Map.of(
            "pekko.http.server.request-timeout", http.requestTimeout().toMillis() + "ms",
            "pekko.http.server.idle-timeout", http.idleTimeout().toMillis() + "ms",
            "pekko.http.server.backlog", String.valueOf(http.backlog()),
            "pekko.http.server.parsing.max-content-length", String.valueOf(http.maxBodyBytes() * 8)))
        .withFallback(app);
    PrismSettings settings = PrismSettings.from(PrismNode.withGpuDispatchers(config, 0));
    List<Device> devices = Devices.open(settings);
    PrismNode node = PrismNode.start("prism", config, devices, ModelStore.fileLoader(settings.backend()));
    try {
      node.awaitLocalGpus(settings.registerTimeout());
      List<String> registered = registerModels(node, modelsDir, settings);
      PrismRoutes routes = new PrismRoutes(node, Materializer.matFromSystem(node.system()), http, new PrismMetrics(SloWindow.from(app)), security);
      ServerBinding binding = HttpEdge.bind(node.system(), routes, http).toCompletableFuture().get(30, TimeUnit.SECONDS);
      unbindOnShutdown(node, binding);
      log.info("Prism serving on http://{}:{} with {} device(s) ({}), models: {}; {}, model roots {}", http.host(),
          binding.localAddress().getPort(), devices.size(), settings.backend(), registered, security.auth(), security.modelRoots());
      return new PrismServer(node, binding, registered);
    } catch (Exception e) {
      node.close();
      throw e;
    }
  }

  /**
   * HTTP's part of coordinated shutdown: after the node's drain ({@code before-service-unbind}, see
   * {@code PrismNode.leave()}) the port is unbound, then open requests get until the end of {@code
   * prism.node.drain-timeout} on a graceful leave (SIGTERM), 1 s on {@link #close()}.
   */
  private static void unbindOnShutdown(PrismNode node, ServerBinding binding) {
    CoordinatedShutdown cs = CoordinatedShutdown.get(node.system());
    cs.addTask(CoordinatedShutdown.PhaseServiceUnbind(), "prism-http-unbind", () -> binding.unbind().thenApply(x -> Done.getInstance()));
    cs.addTask(CoordinatedShutdown.PhaseServiceRequestsDone(), "prism-http-requests-done", () -> {
      boolean graceful = cs.getShutdownReason().map(r -> r != CoordinatedShutdown.actorSystemTerminateReason()).orElse(false);
      java.time.Duration hard = graceful ? node.settings().drainTimeout() : java.time.Duration.ofSeconds(1);
      return binding.terminate(hard).thenApply(x -> Done.getInstance());
    });
  }

  /** The directory whose models are registered at start-up, if any exists. */
  static Optional<Path> modelsDir(Config config) {
    List<String> candidates = new ArrayList<>();
    String configured = config.getString("prism.models.dir");
    if (!configured.isBlank()) {
      Path p = Path.of(configured).toAbsolutePath().normalize();
      if (!Files.isDirectory(p)) throw new IllegalArgumentException("models directory " + p + " does not exist (prism.models.dir / --models)");
      return Optional.of(p);
    }
    String env = System.getenv("PRISM_MODELS");
    if (env != null && !env.isBlank()) candidates.add(env);
    candidates.add("models");
    candidates.add("../shared/models");
    for (String c : candidates) {
      Path p = Path.of(c);
      if (Files.isDirectory(p)) return Optional.of(p.toAbsolutePath().normalize());
    }
    return Optional.empty();
  }

  private static List<String> registerModels(PrismNode node, Optional<Path> dir, PrismSettings settings) throws Exception {
    if (dir.isEmpty()) {
      log.warn("No model directory found (--models, PRISM_MODELS, ./models, ../shared/models); starting with an empty catalog");
      return List.of();
    }
    Map<String, Path> found = ModelLoader.discover(dir.get());
    List<CompletableFuture<GlobalPlacementActor.RegisterReply>> replies = new ArrayList<>();
    Config catalog = node.system().settings().config().getConfig("prism.models.catalog");
    for (Map.Entry<String, Path> e : found.entrySet()) {
      ModelSpec spec = catalogEntry(catalog, new ModelSpec(e.getKey(), e.getValue().toAbsolutePath().toString(), null, settings.defaultTtftSlo(),
          settings.defaultTpotSlo(), size(e.getValue())));
      replies.add(node.register(spec).toCompletableFuture());
    }
    List<String> ok = new ArrayList<>();
    for (CompletableFuture<GlobalPlacementActor.RegisterReply> f : replies) {
      GlobalPlacementActor.RegisterReply r = f.get(settings.registerTimeout().toMillis() + 1000, TimeUnit.MILLISECONDS);
      if (r instanceof GlobalPlacementActor.Registered reg) ok.add(reg.model().id());
      else if (r instanceof GlobalPlacementActor.RegisterFailed failed) log.warn("Model {} not served: {}", failed.modelId(), failed.message());
    }
    return ok;
  }

  /**
   * {@code spec} with what {@code prism.models.catalog."<id>"} sets: {@code ttft-slo}, {@code
   * tpot-slo}, {@code min-pages}, {@code max-pages}, {@code max-replicas} (absent keys keep the defaults).
   *
   * @throws com.typesafe.config.ConfigException naming the key of a wrong type
   */
  static ModelSpec catalogEntry(Config catalog, ModelSpec spec) {
    String key = com.typesafe.config.ConfigUtil.quoteString(spec.id());
    if (!catalog.hasPath(key)) return spec;
    Config c = catalog.getConfig(key);
    return new ModelSpec(spec.id(), spec.source(), spec.tokenizer(), c.hasPath("ttft-slo") ? c.getDuration("ttft-slo") : spec.ttftSlo(),
        c.hasPath("tpot-slo") ? c.getDuration("tpot-slo") : spec.tpotSlo(), spec.estimatedBytes(),
        c.hasPath("min-pages") ? c.getInt("min-pages") : spec.minPages(), c.hasPath("max-pages") ? c.getInt("max-pages") : spec.maxPages(),
        c.hasPath("max-replicas") ? c.getInt("max-replicas") : spec.maxReplicas());
  }

  private static long size(Path p) {
    try {
      return Files.size(p);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The bound HTTP port. */
  public int port() {
    return binding.localAddress().getPort();
  }

  /** The cluster node behind the API. */
  public PrismNode node() {
    return node;
  }

  /** Ids of the models registered at start-up. */
  public List<String> models() {
    return models;
  }

  /** Unbinds HTTP and stops the node at once (requests in flight fail, pages go back, devices close). */
  @Override
  public void close() {
    node.close();
  }

  /**
   * Leaves gracefully (what SIGTERM does): the node's models move to other GPUs and its requests
   * finish (at most {@code prism.node.drain-timeout}), HTTP unbinds, the node leaves the cluster;
   * then the devices close.
   */
  public void leave() {
    try {
      node.leave().toCompletableFuture().get(node.settings().drainTimeout().toSeconds() * 2 + 60, TimeUnit.SECONDS);
    } catch (Exception e) {
      log.warn("graceful leave did not complete: {}", e.toString());
    }
    node.close();
  }
}
