package io.prism.actors.model;

import io.prism.actors.ModelSpec;

import io.prism.runtime.chat.ChatTokenizer;
import io.prism.runtime.memory.HostTier;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.model.ModelLoader;
import io.prism.runtime.model.ModelWeights;
import io.prism.runtime.tokenizer.Tokenizer;
import java.lang.ref.WeakReference;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;

/**
 * Reads the models this node serves and shares their host weights (read-only) between the model
 * instances of its devices: concurrent loads of one model read it once, and a load while another
 * instance on this node still holds the weights (a replica, a migration's target on the same node)
 * gets those arrays instead of reading the file again. The store itself keeps no weights alive: it
 * refers to them weakly, so once every instance has let its copy go (evicted to the disk tier,
 * unloaded) the garbage collector frees them and the next load reads the file; host memory is
 * then bounded by the instances' own copies (the device budget and {@code prism.node.host-tier-bytes}),
 * not by the number of models ever registered. Loading runs on a blocking executor, never on a
 * device's engine thread or the default dispatcher.
 *
 * <p>Threading: thread-safe.
 */
public final class ModelStore {
  /** Reads a model's files; may block. */
  @FunctionalInterface
  public interface Loader {
    /**
     * @throws RuntimeException (e.g. {@code ModelFormatException}, {@code UncheckedIOException})
     *     with a message naming the file and the problem
     */
    LoadedModel load(ModelSpec spec);
  }

  /**
   * The runtime's {@link ModelLoader}: {@code spec.source()} is a {@code .bin} / {@code .gguf} path
   * or {@code random:NAME}; {@code spec.tokenizer()} an optional llama2.c tokenizer file.
   */
  public static Loader fileLoader() {
    return spec -> ModelLoader.load(spec.source(), spec.tokenizer() == null ? null : Path.of(spec.tokenizer()));
  }

  /**
   * The loader for {@code backend} ({@code prism.node.backend}): on {@code cuda} a {@code
   * random:NAME} model is loaded config-only (the device generates its weights; an 8B shape would
   * not fit the host's float32 arrays), everything else as {@link #fileLoader()}.
   */
  public static Loader fileLoader(String backend) {
    if (!backend.equals("cuda")) return fileLoader();
    Loader files = fileLoader();
    return spec -> spec.source().startsWith("random:")
        ? ModelLoader.loadConfigOnly(spec.source(), spec.tokenizer() == null ? null : Path.of(spec.tokenizer()))
        : files.load(spec);
  }

  private final Loader loader;
  private final Executor blocking;
  private final HostTier hostTier;
  private final Map<String, CompletableFuture<LoadedModel>> inFlight = new ConcurrentHashMap<>();
  private final Map<String, Shared> shared = new ConcurrentHashMap<>();

  /** A loaded model without its weights, and its weights as long as an instance holds them. */
  private record Shared(LoadedModel light, WeakReference<ModelWeights> weights) {
    static Shared of(LoadedModel m) {
      return new Shared(m.withoutWeights(), m.weights() == null ? null : new WeakReference<>(m.weights()));
    }

    /** The model with its weights, or null once they were collected. */
    LoadedModel get() {
      if (weights == null) return light; // no host weights (a device generates them)
      ModelWeights w = weights.get();
      return w == null ? null : new LoadedModel(light.id(), light.source(), light.config(), w, light.tokenizer());
    }
  }

  /**
   * A store with an unbounded host tier (every evicted model keeps its host copy).
   *
   * @param loader reads a model's files
   * @param blocking where loads run (the actor system's blocking-IO dispatcher)
   */
  public ModelStore(Loader loader, Executor blocking) {
    this(loader, blocking, new HostTier(Long.MAX_VALUE));
  }

  /**
   * @param loader reads a model's files
   * @param blocking where loads and reloads run (the actor system's blocking-IO dispatcher)
   * @param hostTier the node's host tier: the bound on host copies of evicted weights ({@code
   *     prism.node.host-tier-bytes}, {@link HostTierSettings})
   */
  public ModelStore(Loader loader, Executor blocking, HostTier hostTier) {
    if (hostTier == null) throw new IllegalArgumentException("host tier must not be null");
    this.loader = loader;
    this.blocking = blocking;
    this.hostTier = hostTier;
  }

  /** The node's host tier, shared by every model instance on its devices. */
  public HostTier hostTier() {
    return hostTier;
  }

  /**
   * Reads {@code spec}'s model again from its source, bypassing the cache (the disk tier: an
   * activation whose host copy was dropped); {@code random:} weights come out the same from their
   * seed. Runs on the blocking executor.
   *
   * @return the model and how long the read took
   */
  public CompletionStage<Reloaded> reload(ModelSpec spec) {
    return CompletableFuture.supplyAsync(() -> {
      long t0 = System.nanoTime();
      LoadedModel m = loader.load(spec);
      return new Reloaded(m, System.nanoTime() - t0);
    }, blocking);
  }

  /** A model read again by {@link #reload}: {@code readNanos} is the time the loader took. */
  public record Reloaded(LoadedModel model, long readNanos) {}

  /**
   * {@code spec}'s model with its host weights: those another instance on this node still holds,
   * else read (once for concurrent calls); its {@code id} is {@code spec.id()}; its tokenizer carries
   * the model's chat template and stop tokens when its files have them ({@link
   * ChatTokenizer#withChatFormat}). A failed load is forgotten, so the next call tries again.
   */
  public CompletionStage<LoadedModel> load(ModelSpec spec) {
    String key = spec.id() + "\u0000" + spec.source();
    Shared s = shared.get(key);
    LoadedModel held = s == null ? null : s.get();
    if (held != null) return CompletableFuture.completedFuture(held);
    CompletableFuture<LoadedModel> f = inFlight.computeIfAbsent(key, k -> CompletableFuture.supplyAsync(() -> {
      LoadedModel m = loader.load(spec);
      Tokenizer t = ChatTokenizer.withChatFormat(m.tokenizer(), m.source());
      return m.id().equals(spec.id()) && t == m.tokenizer() ? m : new LoadedModel(spec.id(), m.source(), m.config(), m.weights(), t);
    }, blocking));
    f.whenComplete((m, e) -> {
      if (e == null) shared.put(key, Shared.of(m));
      inFlight.remove(key, f);
    });
    return f;
  }

  /** Whether host weights of {@code spec}'s model are still held by an instance on this node (tests). */
  boolean holdsWeights(ModelSpec spec) {
    Shared s = shared.get(spec.id() + "\u0000" + spec.source());
    return s != null && s.weights() != null && s.weights().get() != null;
  }

  /** Forgets model {@code modelId} (instances already running keep their weights). */
  public void evict(String modelId) {
    shared.keySet().removeIf(k -> k.startsWith(modelId + "\u0000"));
  }
}
