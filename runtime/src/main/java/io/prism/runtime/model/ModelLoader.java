package io.prism.runtime.model;

import io.prism.runtime.format.ModelFormatException;
import io.prism.runtime.model.GgufReader.GgufFile;
import io.prism.runtime.tokenizer.Llama2cTokenizerFile;
import io.prism.runtime.tokenizer.SentencePieceTokenizer;
import io.prism.runtime.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * Entry point for loading models by spec and for finding the models in a directory.
 *
 * <p>A spec is a path to a llama2.c version-0 checkpoint ({@code .bin}, {@link Llama2cLoader}), a
 * GGUF file ({@code .gguf}, {@link GgufLoader}: architectures {@code llama}, {@code qwen2}, {@code
 * qwen3}; F32/F16/BF16/Q8_0/Q4_0/Q4_K/Q5_K/Q6_K tensors, dequantised to float32 on the host), a
 * Hugging Face folder ({@code config.json} + {@code model.safetensors} or shards with {@code
 * model.safetensors.index.json}; {@link SafetensorsLoader}: Llama, Mistral, Qwen2, Qwen3), or
 * {@code random:NAME} ({@link RandomModels}, seed {@link RandomModels#DEFAULT_SEED}). Every
 * backend takes the result: the host one uses the float32 weights, device backends upload them.
 *
 * <p>Tokenizer choice: the file given as {@code tokenizerOrNull} (a llama2.c tokenizer file) when
 * not null; otherwise for a {@code .bin} the llama2.c tokenizer file in the checkpoint's directory
 * whose entry count equals the vocab size (the first by name when several match); for a GGUF the
 * embedded vocabulary; for a Hugging Face folder its {@code tokenizer.json} (required); for a random
 * shape see {@link RandomModels#tokenizer}. A tokenizer whose size differs from the vocab size is an
 * error.
 *
 * <p>Model ids: the file stem (a Hugging Face folder: its name); a GGUF whose stem equals that of a llama2.c checkpoint in the same
 * directory gets the suffix {@code -gguf} ({@code stories260K} and {@code stories260K-gguf});
 * random shapes are {@code random:NAME}.
 *
 * <p>Failure is atomic: a {@link LoadedModel} is returned only when everything loaded and checked;
 * any problem throws and leaves nothing behind. Stateless and thread-safe.
 */
public final class ModelLoader {
  private ModelLoader() {}

  /**
   * Loads weights, shape and tokenizer.
   *
   * @param spec file path ({@code .bin} or {@code .gguf}), Hugging Face folder, or {@code random:NAME}
   * @param tokenizerOrNull a llama2.c tokenizer file, or null to choose automatically
   * @throws IllegalArgumentException for a missing file, an unknown extension or random name, a
   *     tokenizer of the wrong size or missing from a Hugging Face folder, or a random shape over the
   *     host memory limit
   * @throws ModelFormatException for a corrupt file, naming the file, field, expected and found; an
   *     unsupported architecture (Hugging Face {@code architectures} or GGUF {@code
   *     general.architecture}, naming it and the supported ones) or tensor type
   * @throws UncheckedIOException when a file cannot be read
   */
  public static LoadedModel load(String spec, Path tokenizerOrNull) {
    return load(spec, tokenizerOrNull, false);
  }

  /**
   * As {@link #load} but without weights ({@link LoadedModel#weights()} is null): shape and
   * tokenizer only, e.g. for a random shape too large for the host whose weights a device backend
   * generates, or to inspect a file. File headers are still fully validated.
   */
  public static LoadedModel loadConfigOnly(String spec, Path tokenizerOrNull) {
    return load(spec, tokenizerOrNull, true);
  }

  private static LoadedModel load(String spec, Path tokenizerOrNull, boolean configOnly) {
    if (spec == null || spec.isBlank()) throw new IllegalArgumentException("model spec is empty");
    if (spec.startsWith(RandomModels.PREFIX)) {
      ModelConfig c = RandomModels.config(spec);
      Tokenizer t = RandomModels.tokenizer(c, tokenizerOrNull);
      ModelWeights w = configOnly ? null : RandomModels.weights(c, RandomModels.DEFAULT_SEED);
      return new LoadedModel(RandomModels.PREFIX + c.name(), spec, c, w, t);
    }
    Path file = Path.of(spec);
    if (Files.isDirectory(file)) return loadFolder(file, spec, tokenizerOrNull, configOnly);
    if (!Files.isRegularFile(file)) throw new IllegalArgumentException("model file not found: " + file.toAbsolutePath());
    String name = file.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
    if (name.endsWith(".gguf")) {
      GgufFile g = GgufReader.read(file);
      ModelConfig c = GgufLoader.readConfig(g);
      Tokenizer t = tokenizerOrNull != null ? givenTokenizer(tokenizerOrNull, c)
          : "gpt2".equals(g.getString("tokenizer.ggml.model")) // byte-level BPE (Llama 3, Qwen, DeepSeek) through DJL
              ? io.prism.runtime.tokenizer.GgufBpeTokenizer.fromGgufMetadata(g.fileName(), g.metadata(), c.vocabSize())
              : GgufLoader.readTokenizer(g);
      if (t.vocabSize() != c.vocabSize()) {
        throw new ModelFormatException(g.fileName() + ": tokenizer.ggml.tokens: expected " + c.vocabSize() + " tokens (token_embd rows), found " + t.vocabSize());
      }
      ModelWeights w = configOnly ? null : GgufLoader.loadWeights(g, c);
      return new LoadedModel(idFor(file), spec, c, w, t);
    }
    if (name.endsWith(".bin")) {
      ModelConfig c = Llama2cLoader.readConfig(file);
      Tokenizer t = tokenizerOrNull != null ? givenTokenizer(tokenizerOrNull, c) : SentencePieceTokenizer.fromLlama2cFile(findTokenizer(file, c.vocabSize()));
      ModelWeights w = configOnly ? null : Llama2cLoader.load(file);
      return new LoadedModel(idFor(file), spec, c, w, t);
    }
    throw new IllegalArgumentException("model spec '" + spec + "': expected a .bin (llama2.c) or .gguf file, a Hugging Face folder, or random:NAME with NAME in "
        + RandomModels.names());
  }

  private static LoadedModel loadFolder(Path dir, String spec, Path tokenizerOrNull, boolean configOnly) {
    if (!Files.isRegularFile(dir.resolve("config.json"))) {
      throw new IllegalArgumentException("model folder " + dir.toAbsolutePath() + " has no config.json (expected a Hugging Face checkpoint folder)");
    }
    ModelConfig c = SafetensorsLoader.config(dir, 0);
    Tokenizer t;
    if (tokenizerOrNull != null) {
      t = givenTokenizer(tokenizerOrNull, c);
    } else {
      t = SafetensorsLoader.tokenizer(dir, c.vocabSize());
      if (t == null) throw new IllegalArgumentException("model folder " + dir.toAbsolutePath() + " has no tokenizer.json; add the model's tokenizer.json");
    }
    ModelWeights w = configOnly ? null : SafetensorsLoader.weights(dir, c);
    return new LoadedModel(idFor(dir), spec, c, w, t);
  }

  private static Tokenizer givenTokenizer(Path tokenizer, ModelConfig c) {
    if (!Files.isRegularFile(tokenizer)) throw new IllegalArgumentException("tokenizer file not found: " + tokenizer.toAbsolutePath());
    SentencePieceTokenizer t = SentencePieceTokenizer.fromLlama2cFile(tokenizer);
    if (t.vocabSize() != c.vocabSize()) {
      throw new IllegalArgumentException("tokenizer " + tokenizer.getFileName() + " has " + t.vocabSize() + " tokens but model " + c.name() + " has vocab size " + c.vocabSize());
    }
    return t;
  }

  /**
   * The llama2.c tokenizer file beside {@code checkpoint} with exactly {@code vocabSize} entries
   * (first by file name when several match).
   *
   * @throws IllegalArgumentException when there is none, listing the tokenizer files found
   */
  public static Path findTokenizer(Path checkpoint, int vocabSize) {
    Path dir = checkpoint.toAbsolutePath().getParent();
    List<String> seen = new ArrayList<>();
    for (Path p : list(dir)) {
      if (!p.getFileName().toString().endsWith(".bin") || p.getFileName().equals(checkpoint.getFileName())) continue;
      OptionalInt n = Llama2cTokenizerFile.probeVocabSize(p);
      if (n.isEmpty()) continue;
      if (n.getAsInt() == vocabSize) return p;
      seen.add(p.getFileName() + " (" + n.getAsInt() + " tokens)");
    }
    throw new IllegalArgumentException("no llama2.c tokenizer with " + vocabSize + " tokens beside " + checkpoint.getFileName() + " in " + dir
        + (seen.isEmpty() ? " (found no tokenizer files)" : " (found " + String.join(", ", seen) + ")") + "; pass one with --tokenizer");
  }

  /**
   * Model files directly inside {@code dir}: llama2.c version-0 checkpoints ({@code .bin} whose
   * header matches the file size; tokenizer files are skipped), files with the GGUF magic ({@code
   * .gguf}) and Hugging Face folders (sub-folders holding {@code config.json} and {@code
   * model.safetensors} or {@code model.safetensors.index.json}; id: the folder name, unless a file
   * already has it). Unreadable or malformed files are skipped.
   *
   * @return model id (file stem; {@code -gguf} appended to a GGUF whose stem a checkpoint also has)
   *     to path, sorted by id
   * @throws UncheckedIOException when {@code dir} cannot be listed
   */
  public static Map<String, Path> discover(Path dir) {
    Map<String, Path> out = new TreeMap<>();
    for (Path p : list(dir)) {
      String n = p.getFileName().toString();
      if (n.endsWith(".bin") && Llama2cLoader.probe(p).isPresent()) out.put(Llama2cLoader.stem(p), p);
    }
    for (Path p : list(dir)) {
      String n = p.getFileName().toString();
      if (n.endsWith(".gguf") && GgufReader.hasMagic(p)) out.put(idFor(p), p);
    }
    try (Stream<Path> s = Files.list(dir)) {
      for (Path p : s.filter(Files::isDirectory).sorted().toList()) {
        boolean weights = Files.isRegularFile(p.resolve("model.safetensors")) || Files.isRegularFile(p.resolve("model.safetensors.index.json"));
        if (Files.isRegularFile(p.resolve("config.json")) && weights) out.putIfAbsent(idFor(p), p);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list " + dir, e);
    }
    return out;
  }

  /** The model id of {@code file} or Hugging Face folder (see the class comment). */
  public static String idFor(Path file) {
    if (Files.isDirectory(file)) return file.toAbsolutePath().normalize().getFileName().toString();
    String stem = Llama2cLoader.stem(file);
    if (file.getFileName().toString().endsWith(".gguf")) {
      Path parent = file.toAbsolutePath().getParent();
      Path sibling = parent.resolve(stem + ".bin");
      if (Files.isRegularFile(sibling) && Llama2cLoader.probe(sibling).isPresent()) return stem + "-gguf";
    }
    return stem;
  }

  private static List<Path> list(Path dir) {
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(Files::isRegularFile).sorted().toList();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list " + dir, e);
    }
  }
}
