package io.prism.actors.model;

import io.prism.actors.ModelSpec;

import io.prism.runtime.chat.ChatTokenizer;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.model.ModelLoader;
import io.prism.runtime.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;

/**
 * Host copies of the models this node serves, read from disk once per node and shared by every
 * model instance on its devices (host weights are read-only). Loading runs on a blocking executor,
 * never on a device's engine thread or the default dispatcher.
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
  private final Map<String, CompletableFuture<LoadedModel>> models = new ConcurrentHashMap<>();

  /**
   * @param loader reads a model's files
   * @param blocking where loads run (the actor system's blocking-IO dispatcher)
   */
  public ModelStore(Loader loader, Executor blocking) {
    this.loader = loader;
    this.blocking = blocking;
  }

  /**
   * The host copy of {@code spec}'s model, loading it on first use; its {@code id} is {@code
   * spec.id()}; its tokenizer carries the model's chat template and stop tokens when its files have
   * them ({@link ChatTokenizer#withChatFormat}). A failed load is forgotten, so the next call tries again.
   */
  public CompletionStage<LoadedModel> load(ModelSpec spec) {
    String key = spec.id() + "\u0000" + spec.source();
    CompletableFuture<LoadedModel> f = models.computeIfAbsent(key, k -> CompletableFuture.supplyAsync(() -> {
      LoadedModel m = loader.load(spec);
      Tokenizer t = ChatTokenizer.withChatFormat(m.tokenizer(), m.source());
      return m.id().equals(spec.id()) && t == m.tokenizer() ? m : new LoadedModel(spec.id(), m.source(), m.config(), m.weights(), t);
    }, blocking));
    f.whenComplete((m, e) -> {
      if (e != null) models.remove(key, f);
    });
    return f;
  }

  /** Forgets the host copy of model {@code modelId} (instances already running keep theirs). */
  public void evict(String modelId) {
    models.keySet().removeIf(k -> k.startsWith(modelId + "\u0000"));
  }
}
