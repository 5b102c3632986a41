package io.prism.runtime.model;

import io.prism.runtime.tokenizer.Llama2cTokenizerFile;
import io.prism.runtime.tokenizer.SentencePieceTokenizer;
import io.prism.runtime.tokenizer.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.stream.IntStream;

/**
 * Named real model shapes with seeded random weights and no file, for speed work
 * ({@code random:NAME} specs of {@link ModelLoader}).
 *
 * <pre>
 * name          dim   hidden layers heads kv  vocab   maxSeqLen theta  scaling        eps   classifier
 * stories260K     64    172    5     8    4     512     512     1e4    -              1e-5  shared
 * stories15M     288    768    6     6    6   32000     256     1e4    -              1e-5  shared
 * stories42M     512   1376    8     8    8   32000    1024     1e4    -              1e-5  shared
 * stories110M    768   2048   12    12   12   32000    1024     1e4    -              1e-5  shared
 * llama-3.2-1b  2048   8192   16    32    8  128256    8192     5e5    llama3 x32     1e-5  shared
 * llama-3.2-3b  3072   8192   28    24    8  128256    8192     5e5    llama3 x32     1e-5  shared
 * llama-3.1-8b  4096  14336   32    32    8  128256    8192     5e5    llama3 x8      1e-5  separate
 * qwen2.5-7b    3584  18944   28    28    4  152064    8192     1e6    -              1e-6  separate  (Qwen2: q/k/v bias)
 * qwen3-0.6b    1024   3072   28    16    8  151936    8192     1e6    -              1e-6  shared    (Qwen3: head dim 128, q 2048 wide)
 * qwen3-8b      4096  12288   36    32    8  151936    8192     1e6    -              1e-6  separate  (Qwen3: head dim 128)
 * </pre>
 *
 * Sources: karpathy/tinyllamas model cards, Hugging Face {@code config.json} of
 * meta-llama/Llama-3.2-1B, meta-llama/Llama-3.2-3B, meta-llama/Llama-3.1-8B, Qwen/Qwen2.5-7B, Qwen/Qwen3-0.6B and
 * Qwen/Qwen3-8B. The Llama 3 and Qwen contexts (131072, 32768 and 40960 tokens) are capped at 8192
 * for serving: the KV reservation grows with {@code maxSeqLen}. Llama-3 scaling: low 1, high 4,
 * original context 8192. Qwen2.5's q/k/v biases are random like the matrices; Qwen3's q/k norm
 * weights are 1.
 *
 * <p>Weights are uniform in {@code [-a, a)} with {@code a = 0.02 * sqrt(3)} (standard deviation
 * 0.02, the usual init scale), RMSNorm weights are 1. Element {@code i} of tensor {@code k} is a
 * hash of {@code (seed, k, i / 2)} (SplitMix64's finaliser; one 64-bit hash gives two 24-bit
 * uniforms), so the result is the same for a seed on any
 * number of threads; generation runs in parallel chunks on the common fork-join pool. Stateless and
 * thread-safe.
 */
public final class RandomModels {
  /** Spec prefix understood by {@link ModelLoader}. */
  public static final String PREFIX = "random:";
  /** Seed used by {@link ModelLoader} for {@code random:} specs. */
  public static final long DEFAULT_SEED = 42;
  /** Share of {@code Runtime.maxMemory()} that random float32 weights may take by default. */
  public static final double DEFAULT_HOST_FRACTION = 0.6;
  /** Half-width of the uniform distribution: standard deviation 0.02. */
  static final float AMPLITUDE = (float) (0.02 * Math.sqrt(3));
  private static final int CHUNK = 1 << 16;

  private static final Map<String, ModelConfig> SHAPES = shapes();

  private RandomModels() {}

  private static Map<String, ModelConfig> shapes() {
    Map<String, ModelConfig> m = new LinkedHashMap<>();
    add(m, new ModelConfig("stories260K", 64, 172, 5, 8, 4, 512, 512, 10000f, null, 1e-5f, true));
    add(m, new ModelConfig("stories15M", 288, 768, 6, 6, 6, 32000, 256, 10000f, null, 1e-5f, true));
    add(m, new ModelConfig("stories42M", 512, 1376, 8, 8, 8, 32000, 1024, 10000f, null, 1e-5f, true));
    add(m, new ModelConfig("stories110M", 768, 2048, 12, 12, 12, 32000, 1024, 10000f, null, 1e-5f, true));
    add(m, new ModelConfig("llama-3.2-1b", 2048, 8192, 16, 32, 8, 128256, 8192, 500000f, new RopeScaling(32f, 1f, 4f, 8192), 1e-5f, true));
    add(m, new ModelConfig("llama-3.2-3b", 3072, 8192, 28, 24, 8, 128256, 8192, 500000f, new RopeScaling(32f, 1f, 4f, 8192), 1e-5f, true));
    add(m, new ModelConfig("llama-3.1-8b", 4096, 14336, 32, 32, 8, 128256, 8192, 500000f, new RopeScaling(8f, 1f, 4f, 8192), 1e-5f, false));
    add(m, new ModelConfig("qwen2.5-7b", Architecture.QWEN2, 3584, 18944, 28, 28, 4, 128, 152064, 8192, 1000000f, null, 1e-6f, false));
    add(m, new ModelConfig("qwen3-0.6b", Architecture.QWEN3, 1024, 3072, 28, 16, 8, 128, 151936, 8192, 1000000f, null, 1e-6f, true));
    add(m, new ModelConfig("qwen3-8b", Architecture.QWEN3, 4096, 12288, 36, 32, 8, 128, 151936, 8192, 1000000f, null, 1e-6f, false));
    return Collections.unmodifiableMap(m);
  }

  private static void add(Map<String, ModelConfig> m, ModelConfig c) {
    m.put(c.name(), c);
  }

  /** Known shape names (without the {@code random:} prefix), in table order. */
  public static List<String> names() {
    return List.copyOf(SHAPES.keySet());
  }

  /**
   * The shape called {@code name}, with or without the {@code random:} prefix.
   *
   * @throws IllegalArgumentException naming the unknown name and listing the known ones
   */
  public static ModelConfig config(String name) {
    String n = name.startsWith(PREFIX) ? name.substring(PREFIX.length()) : name;
    ModelConfig c = SHAPES.get(n);
    if (c == null) throw new IllegalArgumentException("unknown random model '" + name + "'; known: " + names());
    return c;
  }

  /** {@link #DEFAULT_HOST_FRACTION} of the JVM's maximum heap, in bytes. */
  public static long defaultHostByteLimit() {
    return (long) (Runtime.getRuntime().maxMemory() * DEFAULT_HOST_FRACTION);
  }

  /** {@link #weights(ModelConfig, long, long)} with {@link #defaultHostByteLimit()}. */
  public static ModelWeights weights(ModelConfig c, long seed) {
    return weights(c, seed, defaultHostByteLimit());
  }

  /**
   * Generates float32 weights of shape {@code c}, deterministic for {@code seed}.
   *
   * @param hostByteLimit refuse when {@code c.parameterCount() * 4} exceeds this
   * @throws IllegalArgumentException when the weights would exceed {@code hostByteLimit} or a Java
   *     array, saying how many bytes they need and how to proceed
   */
  public static ModelWeights weights(ModelConfig c, long seed, long hostByteLimit) {
    long bytes = c.parameterCount() * Float.BYTES;
    if (bytes > hostByteLimit) {
      throw new IllegalArgumentException(String.format(
          "random model %s needs %.2f GiB of float32 host weights, over the host limit of %.2f GiB (%.0f%% of -Xmx); "
              + "load it config-only (ModelLoader.loadConfigOnly) for a device backend, or raise -Xmx",
          c.name(), bytes / (double) (1L << 30), hostByteLimit / (double) (1L << 30), DEFAULT_HOST_FRACTION * 100));
    }
    int l = c.numLayers(), d = c.dim(), h = c.hiddenDim(), kv = c.kvDim(), v = c.vocabSize(), qd = c.qDim();
    float[] emb = random(seed, 0, (long) v * d, c);
    float[] wq = random(seed, 1, (long) l * qd * d, c);
    float[] wk = random(seed, 2, (long) l * kv * d, c);
    float[] wv = random(seed, 3, (long) l * kv * d, c);
    float[] wo = random(seed, 4, (long) l * d * qd, c);
    float[] w1 = random(seed, 5, (long) l * h * d, c);
    float[] w2 = random(seed, 6, (long) l * d * h, c);
    float[] w3 = random(seed, 7, (long) l * h * d, c);
    float[] cls = c.sharedClassifier() ? emb : random(seed, 8, (long) v * d, c);
    boolean bias = c.architecture().qkvBias(), norm = c.architecture().qkNorm();
    return new ModelWeights(c, emb, ones(l * d), wq, wk, wv, wo, ones(l * d), w1, w2, w3, ones(d), cls,
        bias ? random(seed, 9, (long) l * qd, c) : null, bias ? random(seed, 10, (long) l * kv, c) : null, bias ? random(seed, 11, (long) l * kv, c) : null,
        norm ? ones(l * c.headDim()) : null, norm ? ones(l * c.headDim()) : null);
  }

  private static float[] ones(int n) {
    float[] a = new float[n];
    java.util.Arrays.fill(a, 1f);
    return a;
  }

  private static float[] random(long seed, int tensor, long count, ModelConfig c) {
    if (count > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("random model " + c.name() + ": a tensor of " + count + " elements exceeds a Java array");
    float[] a = new float[(int) count];
    long base = mix(seed ^ mix(0x9E3779B97F4A7C15L * (tensor + 1)));
    int chunks = (int) ((count + CHUNK - 1) / CHUNK);
    IntStream.range(0, chunks).parallel().forEach(k -> {
      int from = k * CHUNK, to = (int) Math.min(count, (long) from + CHUNK);
      for (int i = from; i < to; i += 2) { // CHUNK is even: a pair never straddles chunks
        long bits = mix(base + (i >>> 1) * 0x9E3779B97F4A7C15L);
        a[i] = ((int) (bits >>> 40) * 0x1p-23f - 1f) * AMPLITUDE;
        if (i + 1 < to) a[i + 1] = ((int) ((bits >>> 8) & 0xFFFFFF) * 0x1p-23f - 1f) * AMPLITUDE;
      }
    });
    return a;
  }

  /** SplitMix64's output function (Steele, Lea, Flood 2014). */
  private static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  /**
   * The vocabulary for a random shape: {@code tokenizerOrNull} when given (its size must equal the
   * vocab size); else a llama2.c tokenizer file of the right size in the shared models directory
   * ({@code tokenizer.bin} for 32000, {@code tok512.bin} for 512); else {@link #syntheticTokenizer}.
   *
   * @throws IllegalArgumentException when the given tokenizer's size differs from the vocab size
   */
  public static Tokenizer tokenizer(ModelConfig c, Path tokenizerOrNull) {
    if (tokenizerOrNull != null) {
      SentencePieceTokenizer t = SentencePieceTokenizer.fromLlama2cFile(tokenizerOrNull);
      if (t.vocabSize() != c.vocabSize()) {
        throw new IllegalArgumentException("tokenizer " + tokenizerOrNull + " has " + t.vocabSize() + " tokens, random model " + c.name() + " has vocab size " + c.vocabSize());
      }
      return t;
    }
    Optional<Path> dir = SharedModels.dir();
    if (dir.isPresent()) {
      for (String name : new String[] {"tokenizer.bin", "tok512.bin"}) {
        Path p = dir.get().resolve(name);
        if (Files.isRegularFile(p)) {
          OptionalInt n = Llama2cTokenizerFile.probeVocabSize(p);
          if (n.isPresent() && n.getAsInt() == c.vocabSize()) return SentencePieceTokenizer.fromLlama2cFile(p);
        }
      }
    }
    return syntheticTokenizer(c.vocabSize());
  }

  /**
   * A byte-level vocabulary of exactly {@code vocabSize} tokens, so that any text encodes and any
   * generated id decodes: {@code <unk>} 0, BOS 1, EOS 2, the 256 byte tokens {@code <0xXX>} at
   * 3..258, the 95 printable ASCII characters, then filler words ({@code " a" .. " z", "aa", " aa",
   * ...}, every prefix present so merges reach them), scores decreasing with id.
   *
   * @throws IllegalArgumentException when {@code vocabSize < 354}
   */
  public static SentencePieceTokenizer syntheticTokenizer(int vocabSize) {
    int fixed = 3 + 256 + 95;
    if (vocabSize < fixed) throw new IllegalArgumentException("synthetic vocabulary needs at least " + fixed + " tokens, got " + vocabSize);
    List<String> pieces = new ArrayList<>(vocabSize);
    pieces.add("<unk>");
    pieces.add("<s>");
    pieces.add("</s>");
    for (int b = 0; b < 256; b++) pieces.add(String.format("<0x%02X>", b));
    Set<String> seen = new HashSet<>();
    for (char ch = 0x20; ch < 0x7F; ch++) {
      pieces.add(String.valueOf(ch));
      seen.add(String.valueOf(ch));
    }
    for (long n = 0; pieces.size() < vocabSize; n++) {
      String w = word(n);
      for (String p : new String[] {" " + w, w}) {
        if (pieces.size() < vocabSize && seen.add(p)) pieces.add(p);
      }
    }
    float[] scores = new float[vocabSize];
    for (int i = 259; i < vocabSize; i++) scores[i] = -(i - 259);
    return new SentencePieceTokenizer(pieces.toArray(new String[0]), scores, 1, 2, true);
  }

  /** Bijective base-26 word: 0 a, 25 z, 26 aa, ... */
  private static String word(long n) {
    StringBuilder sb = new StringBuilder();
    n++;
    while (n > 0) {
      n--;
      sb.append((char) ('a' + n % 26));
      n /= 26;
    }
    return sb.reverse().toString();
  }
}
