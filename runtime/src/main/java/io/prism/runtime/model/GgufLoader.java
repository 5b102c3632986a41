package io.prism.runtime.model;

import io.prism.runtime.format.ModelFormatException;
import io.prism.runtime.model.GgufReader.GgufFile;
import io.prism.runtime.model.GgufReader.TensorInfo;
import io.prism.runtime.tokenizer.SentencePieceTokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns a GGUF file of architecture {@code llama} (Llama, Mistral), {@code qwen2} or {@code qwen3}
 * ({@link Architecture}) into a {@link ModelConfig}, host float32 {@link ModelWeights} and a
 * {@link SentencePieceTokenizer}.
 *
 * <p><b>Quantized tensors on the host are dequantised at load.</b> F32, F16, BF16, Q8_0, Q4_0, Q4_K,
 * Q5_K and Q6_K tensors (any mix per tensor, as in llama.cpp's Q4_K_M and Q5_K_M files) become
 * float32 ({@link QuantKernels}, vectorised, bit-identical to the scalar reference {@link
 * GgmlQuants}), so the host forward pass runs one float32 code path whose results equal those of the
 * same weights stored in F32. The price is memory: 4 bytes per weight (plus the packed copy of the
 * host backend) instead of 0.56 (Q4_K) to 1.06 (Q8_0); the host backend serves small models and
 * tests, and a device backend keeps quantized weights quantized. Other types (Q2_K, Q3_K, IQ*, ...)
 * are rejected, naming the tensor, its type and the supported types.
 *
 * <p>Tensor names (llama.cpp's architecture tables) and their ggml dims, innermost first; ggml's
 * {@code ne[0]} is the contiguous axis, so a {@code [in, out]} GGUF tensor is exactly the row-major
 * {@code [out, in]} matrix of {@link ModelWeights} and is copied without transposing ({@code qDim =
 * heads * headDim}, {@code headDim} from {@code <arch>.attention.key_length}, else {@code dim /
 * heads}):
 *
 * <pre>
 * token_embd.weight        [dim, vocab]      tokenEmbedding
 * blk.N.attn_norm.weight   [dim]             attnNorm
 * blk.N.attn_q.weight      [dim, qDim]       wq
 * blk.N.attn_k.weight      [dim, kvDim]      wk
 * blk.N.attn_v.weight      [dim, kvDim]      wv
 * blk.N.attn_q.bias        [qDim]            bq           (qwen2)
 * blk.N.attn_k.bias        [kvDim]           bk           (qwen2)
 * blk.N.attn_v.bias        [kvDim]           bv           (qwen2)
 * blk.N.attn_q_norm.weight [headDim]         qNorm        (qwen3)
 * blk.N.attn_k_norm.weight [headDim]         kNorm        (qwen3)
 * blk.N.attn_output.weight [qDim, dim]       wo
 * blk.N.ffn_norm.weight    [dim]             ffnNorm
 * blk.N.ffn_gate.weight    [dim, hidden]     w1
 * blk.N.ffn_down.weight    [hidden, dim]     w2
 * blk.N.ffn_up.weight      [dim, hidden]     w3
 * output_norm.weight       [dim]             finalNorm
 * output.weight            [dim, vocab]      classifier (absent: shared with token_embd)
 * rope_freqs.weight        [headDim / 2]     optional Llama-3 frequency factors (see below)
 * </pre>
 *
 * <p><b>Q/K layout and RoPE.</b> Hugging Face Llama checkpoints rotate the halves of each head
 * ({@code rotate_half}: pairs {@code (i, i + headDim/2)}); Meta's original checkpoints, llama2.c and
 * ggml's normal-mode RoPE rotate adjacent pairs {@code (2i, 2i+1)}. llama.cpp's {@code
 * convert_hf_to_gguf.py} therefore permutes the rows of {@code attn_q} and {@code attn_k} of a HF
 * model back into the interleaved layout, and llama2.c's export does the same for its {@code .bin}.
 * So GGUF llama tensors already match llama2.c's rope and are loaded unchanged. The converter
 * leaves {@code qwen2} and {@code qwen3} in Hugging Face's order (llama.cpp runs them with NeoX
 * RoPE), so their q/k rows, q/k biases and q/k norm weights are permuted at load exactly as {@link
 * SafetensorsLoader} does. Checked on the
 * shared {@code stories260K.gguf} against {@code stories260K.bin}: every tensor, {@code attn_q} and
 * {@code attn_k} included, is bit-identical ({@code GgufLoaderTest}); the GGUF also stores an
 * explicit {@code output.weight} (equal to the embedding), so it loads with an unshared classifier.
 *
 * <p><b>Rope scaling.</b> llama.cpp stores Llama-3 scaling as the tensor {@code rope_freqs.weight}
 * (per-frequency divisors) rather than metadata. It is accepted when it equals the Llama-3 formula
 * of {@link RopeScaling} with factor = its largest value, low/high frequency factors 1 and 4, and
 * original context {@code llama.rope.scaling.original_context_length} (default 8192); any other
 * rope scaling ({@code llama.rope.scaling.type} linear or yarn with a factor other than 1) is
 * rejected, because the forward pass does not implement it.
 *
 * <p>All checks (architecture, shapes, tensor types, data inside the file) run before any tensor
 * data is read. Stateless and thread-safe.
 */
public final class GgufLoader {
  private GgufLoader() {}

  /**
   * Shape and numerics from the metadata ({@code <arch>.*} keys) and the {@code token_embd} tensor.
   *
   * @throws ModelFormatException naming the file, key and expected versus found value; for an
   *     unsupported {@code general.architecture}, naming it and the supported ones
   */
  public static ModelConfig readConfig(GgufFile g) {
    String archName = g.getString("general.architecture");
    Architecture a;
    try {
      a = Architecture.fromGguf(archName);
    } catch (IllegalArgumentException e) {
      throw new ModelFormatException(g.fileName() + ": metadata general.architecture: expected one of " + Architecture.supportedGguf() + ", found "
          + (archName == null ? "nothing" : "\"" + archName + "\""), e);
    }
    String p = archName + ".";
    int dim = g.getPositiveInt(p + "embedding_length", null);
    int hidden = g.getPositiveInt(p + "feed_forward_length", null);
    int layers = g.getPositiveInt(p + "block_count", null);
    int heads = g.getPositiveInt(p + "attention.head_count", null);
    int kvHeads = g.getPositiveInt(p + "attention.head_count_kv", heads);
    int ctx = g.getPositiveInt(p + "context_length", null);
    double theta = g.getDouble(p + "rope.freq_base", 10000.0);
    double eps = g.getDouble(p + "attention.layer_norm_rms_epsilon", 1e-5);
    if (!g.has(p + "attention.key_length") && dim % heads != 0) {
      throw new ModelFormatException(g.fileName() + ": metadata " + p + "attention.head_count: expected a divisor of " + dim + ", found " + heads);
    }
    int headDim = g.has(p + "attention.key_length") ? g.getPositiveInt(p + "attention.key_length", null) : dim / heads;
    for (String key : new String[] {p + "rope.dimension_count", p + "attention.value_length"}) {
      if (g.has(key) && g.getLong(key, null) != headDim) {
        throw new ModelFormatException(g.fileName() + ": metadata " + key + ": expected " + headDim + " (the head dim), found " + g.getLong(key, null));
      }
    }
    TensorInfo emb = g.tensors().get("token_embd.weight");
    if (emb == null) throw new ModelFormatException(g.fileName() + ": tensor token_embd.weight: expected present, found nothing");
    if (emb.dims().length != 2) throw new ModelFormatException(g.fileName() + ": tensor token_embd.weight dims: expected [" + dim + ", vocab], found " + emb.shape());
    int vocab = (int) emb.dims()[1];
    RopeScaling scaling = GgufRopeScaling.read(g, archName, headDim, theta);
    try {
      return new ModelConfig(Llama2cLoader.stem(g.path()), a, dim, hidden, layers, heads, kvHeads, headDim, vocab, ctx, (float) theta, scaling,
          (float) eps, !g.tensors().containsKey("output.weight"));
    } catch (IllegalArgumentException e) {
      throw new ModelFormatException(g.fileName() + ": metadata: " + e.getMessage(), e);
    }
  }

  /**
   * The embedded SentencePiece vocabulary ({@code tokenizer.ggml.model = "llama"}).
   *
   * @throws ModelFormatException when the vocabulary is missing, not SentencePiece, or inconsistent
   */
  public static SentencePieceTokenizer readTokenizer(GgufFile g) {
    String model = g.getString("tokenizer.ggml.model");
    if (!"llama".equals(model)) {
      throw new ModelFormatException(g.fileName() + ": metadata tokenizer.ggml.model: expected \"llama\" (SentencePiece), found "
          + (model == null ? "nothing" : "\"" + model + "\"") + "; pass a llama2.c tokenizer file with --tokenizer");
    }
    Object tokens = g.metadata().get("tokenizer.ggml.tokens");
    Object scores = g.metadata().get("tokenizer.ggml.scores");
    Object types = g.metadata().get("tokenizer.ggml.token_type");
    if (!(tokens instanceof String[] t)) throw new ModelFormatException(g.fileName() + ": metadata tokenizer.ggml.tokens: expected an array of strings, found " + describe(tokens));
    if (!(scores instanceof float[] s) || s.length != t.length) {
      throw new ModelFormatException(g.fileName() + ": metadata tokenizer.ggml.scores: expected " + t.length + " float32 values, found " + describe(scores));
    }
    int[] ty = null;
    if (types != null) {
      if (!(types instanceof int[] tt) || tt.length != t.length) {
        throw new ModelFormatException(g.fileName() + ": metadata tokenizer.ggml.token_type: expected " + t.length + " int32 values, found " + describe(types));
      }
      ty = tt;
    }
    long bos = g.getLong("tokenizer.ggml.bos_token_id", 1L), eos = g.getLong("tokenizer.ggml.eos_token_id", 2L);
    try {
      return SentencePieceTokenizer.fromGgufVocab(t, s, ty, (int) bos, (int) eos);
    } catch (IllegalArgumentException e) {
      throw new ModelFormatException(g.fileName() + ": tokenizer: " + e.getMessage(), e);
    }
  }

  /**
   * Checks every tensor against {@code c} and then reads and dequantises them all.
   *
   * @throws ModelFormatException naming the tensor for a missing or unexpected tensor, wrong dims,
   *     or a type that is not {@link GgmlType#loadable()} (naming the type and the supported ones)
   */
  public static ModelWeights loadWeights(GgufFile g, ModelConfig c) {
    Map<String, long[]> expected = expectedTensors(c);
    for (Map.Entry<String, long[]> e : expected.entrySet()) {
      TensorInfo t = g.tensors().get(e.getKey());
      if (t == null) throw new ModelFormatException(g.fileName() + ": tensor " + e.getKey() + ": expected dims " + Arrays.toString(e.getValue()) + ", found nothing (missing)");
      checkTensor(g, t, e.getValue());
    }
    for (String name : g.tensors().keySet()) {
      if (!expected.containsKey(name) && !name.equals(GgufRopeScaling.TENSOR)) {
        throw new ModelFormatException(g.fileName() + ": tensor " + name + ": not part of the " + c.architecture().label() + " architecture (extra tensors are not supported)");
      }
    }
    int l = c.numLayers(), d = c.dim(), h = c.hiddenDim(), kv = c.kvDim(), v = c.vocabSize(), qd = c.qDim(), hd = c.headDim();
    Architecture a = c.architecture();
    boolean permute = a != Architecture.LLAMA && a != Architecture.MISTRAL; // qwen2/qwen3 keep HF's rotate-half order
    float[] emb = alloc(g, "token_embd.weight", (long) v * d);
    float[] attnNorm = alloc(g, "attn_norm", (long) l * d);
    float[] wq = alloc(g, "attn_q", (long) l * qd * d);
    float[] wk = alloc(g, "attn_k", (long) l * kv * d);
    float[] wv = alloc(g, "attn_v", (long) l * kv * d);
    float[] wo = alloc(g, "attn_output", (long) l * d * qd);
    float[] bq = a.qkvBias() ? new float[l * qd] : null, bk = a.qkvBias() ? new float[l * kv] : null, bv = a.qkvBias() ? new float[l * kv] : null;
    float[] qn = a.qkNorm() ? new float[l * hd] : null, kn = a.qkNorm() ? new float[l * hd] : null;
    float[] ffnNorm = alloc(g, "ffn_norm", (long) l * d);
    float[] w1 = alloc(g, "ffn_gate", (long) l * h * d);
    float[] w2 = alloc(g, "ffn_down", (long) l * d * h);
    float[] w3 = alloc(g, "ffn_up", (long) l * h * d);
    float[] finalNorm = new float[d];
    float[] cls = c.sharedClassifier() ? emb : alloc(g, "output.weight", (long) v * d);
    List<Runnable> jobs = new ArrayList<>();
    try (MappedFile f = MappedFile.open(g.path())) {
      jobs.add(() -> read(f, g, "token_embd.weight", emb, 0));
      jobs.add(() -> read(f, g, "output_norm.weight", finalNorm, 0));
      if (!c.sharedClassifier()) jobs.add(() -> read(f, g, "output.weight", cls, 0));
      for (int i = 0; i < l; i++) {
        final int layer = i;
        String p = "blk." + i + ".";
        jobs.add(() -> read(f, g, p + "attn_norm.weight", attnNorm, layer * d));
        jobs.add(() -> readRope(f, g, p + "attn_q.weight", permute, c.numHeads(), hd, d, wq, layer * qd * d));
        jobs.add(() -> readRope(f, g, p + "attn_k.weight", permute, c.numKvHeads(), hd, d, wk, layer * kv * d));
        jobs.add(() -> read(f, g, p + "attn_v.weight", wv, layer * kv * d));
        jobs.add(() -> read(f, g, p + "attn_output.weight", wo, layer * d * qd));
        if (a.qkvBias()) {
          jobs.add(() -> readRope(f, g, p + "attn_q.bias", permute, c.numHeads(), hd, 1, bq, layer * qd));
          jobs.add(() -> readRope(f, g, p + "attn_k.bias", permute, c.numKvHeads(), hd, 1, bk, layer * kv));
          jobs.add(() -> read(f, g, p + "attn_v.bias", bv, layer * kv));
        }
        if (a.qkNorm()) {
          jobs.add(() -> readRope(f, g, p + "attn_q_norm.weight", permute, 1, hd, 1, qn, layer * hd));
          jobs.add(() -> readRope(f, g, p + "attn_k_norm.weight", permute, 1, hd, 1, kn, layer * hd));
        }
        jobs.add(() -> read(f, g, p + "ffn_norm.weight", ffnNorm, layer * d));
        jobs.add(() -> read(f, g, p + "ffn_gate.weight", w1, layer * h * d));
        jobs.add(() -> read(f, g, p + "ffn_down.weight", w2, layer * d * h));
        jobs.add(() -> read(f, g, p + "ffn_up.weight", w3, layer * h * d));
      }
      jobs.parallelStream().forEach(Runnable::run);
    }
    return new ModelWeights(c, emb, attnNorm, wq, wk, wv, wo, ffnNorm, w1, w2, w3, finalNorm, cls, bq, bk, bv, qn, kn);
  }

  /** Reads tensor {@code name} ({@code heads * headDim} rows of {@code cols}), permuted from rotate-half to adjacent-pair order when {@code permute}. */
  private static void readRope(MappedFile f, GgufFile g, String name, boolean permute, int heads, int headDim, int cols, float[] dst, int dstOffset) {
    if (!permute) {
      read(f, g, name, dst, dstOffset);
      return;
    }
    float[] tmp = new float[heads * headDim * cols];
    read(f, g, name, tmp, 0);
    SafetensorsLoader.permuteRope(tmp, heads, headDim, cols, dst, dstOffset);
  }

  /**
   * The layer matrices (and the classifier, when quantized) as stored, for a device that keeps
   * them quantized: null unless every layer matrix has a type in {@code deviceTypes}. Rows of
   * qwen2/qwen3 q and k are permuted as whole rows of blocks into the order of {@link
   * #loadWeights}. Call after {@link #loadWeights} succeeded (it checks every tensor).
   *
   * @param deviceTypes the block types the device computes with
   * @throws java.io.UncheckedIOException when the file cannot be read
   */
  public static QuantizedMatrices loadQuantized(GgufFile g, ModelConfig c, java.util.Set<GgmlType> deviceTypes) {
    for (int l = 0; l < c.numLayers(); l++) {
      for (String m : QuantizedMatrices.GGUF_NAMES) {
        if (!deviceTypes.contains(GgmlType.fromId(g.tensors().get("blk." + l + "." + m + ".weight").typeId()))) return null;
      }
    }
    boolean permute = c.architecture() != Architecture.LLAMA && c.architecture() != Architecture.MISTRAL;
    QuantizedMatrices.Tensor[][] layers = new QuantizedMatrices.Tensor[c.numLayers()][7];
    try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(g.path(), java.nio.file.StandardOpenOption.READ)) {
      for (int l = 0; l < c.numLayers(); l++) {
        for (int m = 0; m < 7; m++) {
          QuantizedMatrices.Tensor t = raw(ch, g, "blk." + l + "." + QuantizedMatrices.GGUF_NAMES[m] + ".weight",
              QuantizedMatrices.rows(c, m), QuantizedMatrices.cols(c, m));
          if (permute && (m == QuantizedMatrices.Q || m == QuantizedMatrices.K)) {
            int heads = m == QuantizedMatrices.Q ? c.numHeads() : c.numKvHeads();
            byte[] out = new byte[t.data().length];
            SafetensorsLoader.permuteRows(t.data(), heads, c.headDim(), (int) t.type().bytesFor(t.cols()), out);
            t = new QuantizedMatrices.Tensor(t.type(), t.rows(), t.cols(), out);
          }
          layers[l][m] = t;
        }
      }
      TensorInfo out = g.tensors().get(c.sharedClassifier() ? "token_embd.weight" : "output.weight");
      QuantizedMatrices.Tensor cls = deviceTypes.contains(GgmlType.fromId(out.typeId())) ? raw(ch, g, out.name(), c.vocabSize(), c.dim()) : null;
      return new QuantizedMatrices(c, layers, cls);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException("cannot read " + g.path(), e);
    }
  }

  private static QuantizedMatrices.Tensor raw(java.nio.channels.FileChannel ch, GgufFile g, String name, int rows, int cols) throws java.io.IOException {
    TensorInfo t = g.tensors().get(name);
    GgmlType type = GgmlType.fromId(t.typeId());
    long n = type.bytesFor((long) rows * cols);
    if (n > Integer.MAX_VALUE - 8) throw new ModelFormatException(g.fileName() + ": tensor " + name + ": " + n + " bytes exceed a Java array");
    java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate((int) n);
    while (b.hasRemaining()) {
      if (ch.read(b, t.fileOffset() + b.position()) < 0) throw new ModelFormatException(g.fileName() + ": tensor " + name + ": data ends early");
    }
    return new QuantizedMatrices.Tensor(type, rows, cols, b.array());
  }

  /** Tensor name to expected dims (innermost first) for shape {@code c}, in file order. */
  static Map<String, long[]> expectedTensors(ModelConfig c) {
    long d = c.dim(), h = c.hiddenDim(), kv = c.kvDim(), v = c.vocabSize(), qd = c.qDim(), hd = c.headDim();
    Map<String, long[]> m = new LinkedHashMap<>();
    m.put("token_embd.weight", new long[] {d, v});
    m.put("output_norm.weight", new long[] {d});
    if (!c.sharedClassifier()) m.put("output.weight", new long[] {d, v});
    for (int i = 0; i < c.numLayers(); i++) {
      String p = "blk." + i + ".";
      m.put(p + "attn_norm.weight", new long[] {d});
      m.put(p + "attn_q.weight", new long[] {d, qd});
      m.put(p + "attn_k.weight", new long[] {d, kv});
      m.put(p + "attn_v.weight", new long[] {d, kv});
      if (c.architecture().qkvBias()) {
        m.put(p + "attn_q.bias", new long[] {qd});
        m.put(p + "attn_k.bias", new long[] {kv});
        m.put(p + "attn_v.bias", new long[] {kv});
      }
      if (c.architecture().qkNorm()) {
        m.put(p + "attn_q_norm.weight", new long[] {hd});
        m.put(p + "attn_k_norm.weight", new long[] {hd});
      }
      m.put(p + "attn_output.weight", new long[] {qd, d});
      m.put(p + "ffn_norm.weight", new long[] {d});
      m.put(p + "ffn_gate.weight", new long[] {d, h});
      m.put(p + "ffn_down.weight", new long[] {h, d});
      m.put(p + "ffn_up.weight", new long[] {d, h});
    }
    return m;
  }

  static void checkTensor(GgufFile g, TensorInfo t, long[] dims) {
    GgmlType type = GgmlType.fromId(t.typeId());
    if (type == null || !type.loadable()) {
      throw new ModelFormatException(g.fileName() + ": tensor " + t.name() + " type: expected one of " + GgmlType.loadableNames() + ", found "
          + GgmlType.nameOf(t.typeId()) + " (not supported)");
    }
    if (!Arrays.equals(t.dims(), dims)) {
      throw new ModelFormatException(g.fileName() + ": tensor " + t.name() + " dims: expected " + Arrays.toString(dims) + ", found " + t.shape());
    }
    if (t.dims()[0] % type.blockElements != 0) {
      throw new ModelFormatException(g.fileName() + ": tensor " + t.name() + " dims[0]: expected a multiple of the " + type + " block size " + type.blockElements + ", found " + t.dims()[0]);
    }
  }

  private static float[] alloc(GgufFile g, String what, long count) {
    if (count > Integer.MAX_VALUE - 8) {
      throw new ModelFormatException(g.fileName() + ": tensor " + what + ": " + count + " float32 elements exceed a Java array; this model is too large for the host loader");
    }
    return new float[(int) count];
  }

  static void read(MappedFile f, GgufFile g, String name, float[] dst, int dstOffset) {
    TensorInfo t = g.tensors().get(name);
    GgmlType type = GgmlType.fromId(t.typeId());
    f.read(type.encoding(), t.fileOffset(), dst, dstOffset, (int) t.elementCount());
  }

  private static String describe(Object o) {
    if (o == null) return "nothing";
    if (o.getClass().isArray()) return o.getClass().getComponentType().getSimpleName() + "[" + java.lang.reflect.Array.getLength(o) + "]";
    return o.getClass().getSimpleName();
  }
}
