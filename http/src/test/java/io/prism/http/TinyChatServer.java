package io.prism.http;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.prism.actors.Devices;
import io.prism.actors.ModelSpec;
import io.prism.actors.PrismConfig;
import io.prism.actors.PrismNode;
import io.prism.actors.PrismSettings;
import io.prism.actors.placement.GlobalPlacementActor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.stream.Materializer;

/**
 * Test fixture: the whole server (one node, host backend, HTTP on 127.0.0.1 port 0) serving {@link
 * #MODEL}, a random-weight model of a tiny shape ({@link ChatTokenizeIT#load}) with Qwen3's real
 * {@code tokenizer.json} and {@code tokenizer_config.json} (chat template with tools, Hermes
 * {@code <tool_call>} format), copied from {@code ../shared/tokenizers/qwen3} into a temporary
 * folder that {@link #close()} deletes. A realistic chat model for the official clients: real
 * template, real vocabulary (151k tokens), random answers.
 *
 * <p>Threading: start and close from the test thread; the server itself runs on its actor system.
 */
final class TinyChatServer implements AutoCloseable {
  /** The id the model is served under. */
  static final String MODEL = "qwen3-tiny";

  private final PrismNode node;
  private final ServerBinding binding;
  private final Path tmp;

  private TinyChatServer(PrismNode node, ServerBinding binding, Path tmp) {
    this.node = node;
    this.binding = binding;
    this.tmp = tmp;
  }

  /**
   * Starts the server, or returns empty when {@code ../shared/tokenizers/qwen3} is absent.
   *
   * @param overrides extra config keys (e.g. {@code prism.engine.max-running-sequences}) over the defaults
   * @throws Exception when the node does not start, the model is not placed within 2 minutes, or the port does not bind
   */
  static Optional<TinyChatServer> start(Map<String, Object> overrides) throws Exception {
    Path shared = ChatTokenizeIT.qwen3();
    if (shared == null) return Optional.empty();
    Path tmp = Files.createTempDirectory("prism-tiny-chat");
    PrismNode node = null;
    try {
      Path real = Files.createDirectories(tmp.resolve(MODEL));
      Files.copy(shared.resolve("tokenizer.json"), real.resolve("tokenizer.json"));
      Files.copy(shared.resolve("tokenizer_config.json"), real.resolve("tokenizer_config.json"));
      Map<String, Object> keys = new HashMap<>(Map.of(
          "prism.http.port", 0,
          "pekko.remote.artery.canonical.hostname", "127.0.0.1",
          "pekko.remote.artery.canonical.port", 0,
          "prism.models.dir", tmp.toString()));
      keys.putAll(overrides);
      Config config = PrismConfig.load(ConfigFactory.parseMap(keys));
      PrismSettings settings = PrismSettings.from(PrismNode.withGpuDispatchers(config, 0));
      node = PrismNode.start("prism", config, Devices.open(settings), ChatTokenizeIT::load);
      node.awaitLocalGpus(settings.registerTimeout());
      ModelSpec spec = new ModelSpec(MODEL, real.toString(), null, Duration.ofSeconds(60), Duration.ofSeconds(10), 0);
      GlobalPlacementActor.RegisterReply reply = node.register(spec).toCompletableFuture().get(2, TimeUnit.MINUTES);
      if (!(reply instanceof GlobalPlacementActor.Registered)) throw new IllegalStateException(MODEL + " not placed: " + reply);
      HttpSettings hs = HttpSettings.from(config);
      ServerBinding binding = HttpEdge.bind(node.system(), new PrismRoutes(node, Materializer.matFromSystem(node.system()), hs), hs)
          .toCompletableFuture().get(30, TimeUnit.SECONDS);
      return Optional.of(new TinyChatServer(node, binding, tmp));
    } catch (Exception | Error e) {
      if (node != null) node.close();
      deleteTree(tmp);
      throw e;
    }
  }

  /** {@code http://127.0.0.1:PORT}, without a trailing slash. */
  String base() {
    return "http://127.0.0.1:" + binding.localAddress().getPort();
  }

  @Override
  public void close() throws Exception {
    try {
      binding.unbind().toCompletableFuture().get(10, TimeUnit.SECONDS);
    } finally {
      node.close();
      deleteTree(tmp);
    }
  }

  private static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) return;
    try (Stream<Path> walk = Files.walk(dir)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
    }
  }
}
