package io.prism.app.bench;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.prism.actors.placement.GlobalPlacementActor;
import io.prism.actors.ModelSpec;
import io.prism.http.PrismServer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The whole Prism server in this JVM for benchmarks: a one-node cluster (Artery on a free port),
 * the configured devices, HTTP on 127.0.0.1 on a free port, and no model but the ones registered
 * through {@link #register} (the model directory is an empty temporary one).
 *
 * <p>Threading: start, register and close from one thread; the server itself runs on its own.
 */
final class InProcessServer implements AutoCloseable {
  private final PrismServer server;
  private final Path emptyModels;

  private InProcessServer(PrismServer server, Path emptyModels) {
    this.server = server;
    this.emptyModels = emptyModels;
  }

  /**
   * The settings a benchmark server runs with: {@code overrides} over loopback HTTP on port 0,
   * Artery on port 0 and an empty model directory.
   */
  static Config config(Map<String, Object> overrides, Path emptyModels) {
    Map<String, Object> m = new HashMap<>(overrides);
    m.put("prism.http.host", "127.0.0.1");
    m.put("prism.http.port", 0);
    m.put("pekko.remote.artery.canonical.hostname", "127.0.0.1");
    m.put("pekko.remote.artery.canonical.port", 0);
    m.put("prism.models.dir", emptyModels.toString());
    return ConfigFactory.parseMap(m);
  }

  /** An empty directory for {@code prism.models.dir}, deleted by {@link #close}. */
  static Path emptyModelDir() {
    try {
      return Files.createTempDirectory("prism-bench-models");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Starts a server with {@code overrides} (see {@link #config}) over an empty model directory.
   *
   * @throws Exception what {@link PrismServer#start} throws (port, devices)
   */
  static InProcessServer start(Map<String, Object> overrides) throws Exception {
    Path dir = emptyModelDir();
    try {
      return new InProcessServer(PrismServer.start(config(overrides, dir)), dir);
    } catch (Exception e) {
      Files.deleteIfExists(dir);
      throw e;
    }
  }

  /**
   * Registers {@code specs} and waits until each is placed and loaded.
   *
   * @throws IllegalStateException naming the model if one is refused
   */
  void register(List<ModelSpec> specs) throws Exception {
    register(specs, java.time.Duration.ofMinutes(10));
  }

  /**
   * As {@link #register(List)}, waiting at most {@code timeout} for each model.
   *
   * @throws java.util.concurrent.TimeoutException if a model is not placed and loaded in time
   */
  void register(List<ModelSpec> specs, java.time.Duration timeout) throws Exception {
    for (ModelSpec spec : specs) {
      GlobalPlacementActor.RegisterReply r = server.node().register(spec).toCompletableFuture().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
      if (!(r instanceof GlobalPlacementActor.Registered)) throw new IllegalStateException("model " + spec.id() + " not served: " + r);
    }
  }

  /** The bound HTTP port on 127.0.0.1. */
  int port() {
    return server.port();
  }

  /** The server. */
  PrismServer server() {
    return server;
  }

  @Override
  public void close() {
    try {
      server.close();
    } finally {
      try {
        Files.deleteIfExists(emptyModels);
      } catch (IOException ignored) {
        // a temporary directory left behind is harmless
      }
    }
  }
}
