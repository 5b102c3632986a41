package io.prism.runtime.model;

import io.prism.runtime.format.Json;
import io.prism.runtime.format.ModelFormatException;
import io.prism.runtime.tokenizer.HuggingFaceJsonTokenizer;
import io.prism.runtime.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Loads a Hugging Face checkpoint directory of a supported {@link Architecture} ({@code
 * LlamaForCausalLM}, {@code MistralForCausalLM}, {@code Qwen2ForCausalLM}, {@code
 * Qwen3ForCausalLM}): {@code config.json} plus {@code model.safetensors} (or the shards named by
 * {@code model.safetensors.index.json}), tensors in BF16, F16 or F32, into host float32 {@link
 * ModelWeights} in llama2.c's layout.
 *
 * <p>Safetensors format: an 8-byte little-endian header length {@code N}, a JSON header mapping
 * each tensor name to {@code dtype}, {@code shape} and {@code data_offsets} (relative to byte
 * {@code 8 + N}), then the raw data. Tensor names are Hugging Face {@code LlamaForCausalLM}'s
 * ({@code model.layers.N.self_attn.q_proj.weight}, ...), plus {@code self_attn.{q,k,v}_proj.bias}
 * (Qwen2) and {@code self_attn.{q,k}_norm.weight} (Qwen3). A folder whose {@code architectures}
 * names another class is rejected naming it and the supported ones.
 *
 * <p>RoPE order: Hugging Face rotates the pairs {@code (i, i + headDim/2)} of each head ({@code
 * rotate_half}); llama2.c rotates adjacent pairs {@code (2i, 2i + 1)}. The rows of {@code q_proj}
 * and {@code k_proj} are permuted at load (llama2.c row {@code h*hd + 2i + s} takes Hugging Face
 * row {@code h*hd + s*hd/2 + i}, the inverse of the permutation in llama2.c's {@code export.py}),
 * so both backends use one RoPE kernel. The q/k biases and the q/k norm weights (one head's
 * elements) are permuted the same way.
 *
 * <p>Config keys read: {@code architectures} (else {@code model_type}), {@code hidden_size,
 * intermediate_size, num_hidden_layers, num_attention_heads, num_key_value_heads, head_dim,
 * vocab_size, max_position_embeddings, rms_norm_eps, tie_word_embeddings, rope_theta, rope_scaling}
 * (or transformers 5's {@code rope_parameters}). Options the forward pass does not implement are
 * rejected: {@code attention_bias} or {@code mlp_bias} true (outside Qwen2's q/k/v bias), Qwen's
 * {@code use_sliding_window} true. Mistral's {@code sliding_window}, when set, caps the context
 * length: within the window sliding attention equals full attention.
 *
 * <p>Tokenizer: {@code tokenizer.json} in the directory when present ({@link #tokenizer}), else the
 * loaded model has none. Threading: stateless, any thread.
 */
public final class SafetensorsLoader {
  private SafetensorsLoader() {}

  /**
   * @param dir directory holding {@code config.json} and the safetensors file(s)
   * @param maxSeqLenOrZero context length to use; 0 keeps {@code max_position_embeddings}
   * @throws ModelFormatException naming the file and the missing or inconsistent key or tensor
   */
  public static LoadedModel load(Path dir, int maxSeqLenOrZero) {
    ModelConfig c = config(dir, maxSeqLenOrZero);
    ModelWeights w = weights(dir, c);
    String id = dir.getFileName() == null ? "hf" : dir.getFileName().toString();
    return new LoadedModel(id, dir.toString(), c, w, tokenizer(dir, c.vocabSize()));
  }

  /**
   * Reads every tensor of shape {@code c} from the safetensors file(s) of {@code dir}.
   *
   * @throws ModelFormatException naming the file and tensor that is missing, of the wrong size or
   *     of an unsupported dtype
   */
  public static ModelWeights weights(Path dir, ModelConfig c) {
    Map<String, TensorRef> tensors = index(dir);
    int l = c.numLayers(), d = c.dim(), h = c.hiddenDim(), kv = c.kvDim(), v = c.vocabSize(), qd = c.qDim(), hd = c.headDim();
    Architecture arch = c.architecture();
    float[] emb = new float[Math.toIntExact((long) v * d)];
    read(tensors, "model.embed_tokens.weight", emb, 0, (long) v * d);
    float[] cls = emb;
    if (!c.sharedClassifier()) {
      cls = new float[emb.length];
      read(tensors, "lm_head.weight", cls, 0, (long) v * d);
    }
    float[] attnNorm = new float[l * d], ffnNorm = new float[l * d], fin = new float[d];
    float[] wq = new float[Math.toIntExact((long) l * qd * d)], wo = new float[wq.length];
    float[] wk = new float[Math.toIntExact((long) l * kv * d)], wv = new float[wk.length];
    float[] w1 = new float[Math.toIntExact((long) l * h * d)], w2 = new float[w1.length], w3 = new float[w1.length];
    float[] bq = arch.qkvBias() ? new float[l * qd] : null, bk = arch.qkvBias() ? new float[l * kv] : null;
    float[] bv = arch.qkvBias() ? new float[l * kv] : null;
    float[] qn = arch.qkNorm() ? new float[l * hd] : null, kn = arch.qkNorm() ? new float[l * hd] : null;
    for (int i = 0; i < l; i++) {
      String p = "model.layers." + i + ".";
      read(tensors, p + "input_layernorm.weight", attnNorm, (long) i * d, d);
      read(tensors, p + "post_attention_layernorm.weight", ffnNorm, (long) i * d, d);
      float[] q = new float[qd * d];
      read(tensors, p + "self_attn.q_proj.weight", q, 0, (long) qd * d);
      permuteRope(q, c.numHeads(), hd, d, wq, (long) i * qd * d);
      float[] k = new float[kv * d];
      read(tensors, p + "self_attn.k_proj.weight", k, 0, (long) kv * d);
      permuteRope(k, c.numKvHeads(), hd, d, wk, (long) i * kv * d);
      read(tensors, p + "self_attn.v_proj.weight", wv, (long) i * kv * d, (long) kv * d);
      read(tensors, p + "self_attn.o_proj.weight", wo, (long) i * d * qd, (long) d * qd);
      if (arch.qkvBias()) {
        float[] b = new float[qd];
        read(tensors, p + "self_attn.q_proj.bias", b, 0, qd);
        permuteRope(b, c.numHeads(), hd, 1, bq, (long) i * qd);
        b = new float[kv];
        read(tensors, p + "self_attn.k_proj.bias", b, 0, kv);
        permuteRope(b, c.numKvHeads(), hd, 1, bk, (long) i * kv);
        read(tensors, p + "self_attn.v_proj.bias", bv, (long) i * kv, kv);
      }
      if (arch.qkNorm()) {
        float[] n = new float[hd];
        read(tensors, p + "self_attn.q_norm.weight", n, 0, hd);
        permuteRope(n, 1, hd, 1, qn, (long) i * hd);
        read(tensors, p + "self_attn.k_norm.weight", n, 0, hd);
        permuteRope(n, 1, hd, 1, kn, (long) i * hd);
      }
      read(tensors, p + "mlp.gate_proj.weight", w1, (long) i * h * d, (long) h * d);
      read(tensors, p + "mlp.down_proj.weight", w2, (long) i * d * h, (long) d * h);
      read(tensors, p + "mlp.up_proj.weight", w3, (long) i * h * d, (long) h * d);
    }
    read(tensors, "model.norm.weight", fin, 0, d);
    return new ModelWeights(c, emb, attnNorm, wq, wk, wv, wo, ffnNorm, w1, w2, w3, fin, cls, bq, bk, bv, qn, kn);
  }

  /**
   * The tokenizer of a checkpoint directory: {@code tokenizer.json} ({@link
   * HuggingFaceJsonTokenizer}, sized to {@code vocabSize}) when present, else null (no tokenizer;
   * the caller supplies one).
   *
   * @throws ModelFormatException naming the file when tokenizer.json is malformed
   * @throws IllegalArgumentException when it has more ids than {@code vocabSize}
   */
  public static Tokenizer tokenizer(Path dir, int vocabSize) {
    Path f = dir.resolve("tokenizer.json");
    return Files.isRegularFile(f) ? HuggingFaceJsonTokenizer.fromFile(f, vocabSize) : null;
  }

  /**
   * Hugging Face rotate-half row order to llama2.c adjacent-pair order, for {@code heads} heads of
   * {@code headDim} rows of {@code cols} elements ({@code cols} 1 for a bias or norm vector).
   */
  public static void permuteRope(float[] src, int heads, int headDim, int cols, float[] dst, long dstOff) {
    int half = headDim / 2;
    for (int hh = 0; hh < heads; hh++) {
      for (int i = 0; i < half; i++) {
        for (int s = 0; s < 2; s++) {
          int to = hh * headDim + 2 * i + s, from = hh * headDim + s * half + i;
          System.arraycopy(src, from * cols, dst, Math.toIntExact(dstOff + (long) to * cols), cols);
        }
      }
    }
  }

  /**
   * {@link #permuteRope} on rows of {@code rowBytes} opaque bytes (quantized rows): {@code heads *
   * headDim} rows of {@code src} into {@code dst}.
   */
  public static void permuteRows(byte[] src, int heads, int headDim, int rowBytes, byte[] dst) {
    int half = headDim / 2;
    for (int hh = 0; hh < heads; hh++) {
      for (int i = 0; i < half; i++) {
        for (int s = 0; s < 2; s++) {
          System.arraycopy(src, (hh * headDim + s * half + i) * rowBytes, dst, (hh * headDim + 2 * i + s) * rowBytes, rowBytes);
        }
      }
    }
  }

  /**
   * Reads {@code config.json} into a {@link ModelConfig}.
   *
   * @param maxSeqLenOrZero context length to use; 0 keeps {@code max_position_embeddings} (capped
   *     by a Mistral {@code sliding_window})
   * @throws ModelFormatException naming the file and key: unreadable, missing or inconsistent keys,
   *     an unsupported architecture (naming it and the supported ones) or option
   */
  @SuppressWarnings("unchecked")
  public static ModelConfig config(Path dir, int maxSeqLenOrZero) {
    Path f = dir.resolve("config.json");
    Map<String, Object> m;
    try {
      m = (Map<String, Object>) Json.parse(Files.readString(f));
    } catch (IOException e) {
      throw new ModelFormatException(f + ": cannot read (" + e.getMessage() + ")", e);
    }
    Architecture arch = architecture(f, m);
    int dim = intKey(f, m, "hidden_size", null);
    int heads = intKey(f, m, "num_attention_heads", null);
    if (heads <= 0 || (!(m.get("head_dim") instanceof Number) && dim % heads != 0)) {
      throw new ModelFormatException(f + ": num_attention_heads " + heads + " does not divide hidden_size " + dim + " and head_dim is not set");
    }
    int headDim = m.get("head_dim") instanceof Number hd ? hd.intValue() : dim / heads;
    boolean qkvBiasKey = Boolean.TRUE.equals(m.get("attention_bias"));
    if (qkvBiasKey && !arch.qkvBias()) throw new ModelFormatException(f + ": attention_bias true is not supported for " + arch.hfName);
    if (Boolean.TRUE.equals(m.get("mlp_bias"))) throw new ModelFormatException(f + ": mlp_bias true is not supported");
    if (Boolean.TRUE.equals(m.get("use_sliding_window"))) {
      throw new ModelFormatException(f + ": use_sliding_window true is not supported (sliding-window attention); set it false");
    }
    Map<String, Object> rope = m.get("rope_parameters") instanceof Map<?, ?> rp ? (Map<String, Object>) rp
        : m.get("rope_scaling") instanceof Map<?, ?> rs ? (Map<String, Object>) rs : null;
    double theta = m.get("rope_theta") instanceof Number t ? t.doubleValue()
        : rope != null && rope.get("rope_theta") instanceof Number t2 ? t2.doubleValue() : 10000.0;
    RopeScaling scaling = null;
    if (rope != null) {
      Object type = rope.getOrDefault("rope_type", rope.get("type"));
      if ("llama3".equals(type)) {
        scaling = new RopeScaling(num(f, rope, "factor"), num(f, rope, "low_freq_factor"), num(f, rope, "high_freq_factor"),
            (int) num(f, rope, "original_max_position_embeddings"));
      } else if (type != null && !"default".equals(type)) {
        throw new ModelFormatException(f + ": rope type " + type + " unsupported (default or llama3)");
      }
    }
    int maxPos = intKey(f, m, "max_position_embeddings", 2048);
    if (arch == Architecture.MISTRAL && m.get("sliding_window") instanceof Number sw && sw.intValue() > 0) maxPos = Math.min(maxPos, sw.intValue());
    try {
      return new ModelConfig(
        dir.getFileName() == null ? "hf" : dir.getFileName().toString(),
        arch,
        dim,
        intKey(f, m, "intermediate_size", null),
        intKey(f, m, "num_hidden_layers", null),
        heads,
        intKey(f, m, "num_key_value_heads", heads),
        headDim,
        intKey(f, m, "vocab_size", null),
        maxSeqLenOrZero > 0 ? maxSeqLenOrZero : maxPos,
        (float) theta,
        scaling,
        m.get("rms_norm_eps") instanceof Number e ? e.floatValue() : 1e-5f,
        Boolean.TRUE.equals(m.get("tie_word_embeddings")));
    } catch (IllegalArgumentException e) {
      throw new ModelFormatException(f + ": " + e.getMessage(), e);
    }
  }

  /** The architecture named by {@code architectures[0]}, else by {@code model_type}. */
  private static Architecture architecture(Path f, Map<String, Object> m) {
    Object list = m.get("architectures");
    String name = null;
    if (list instanceof List<?> l && !l.isEmpty() && l.get(0) instanceof String s0) {
      name = s0;
    } else if (m.get("model_type") instanceof String mt) {
      for (Architecture a : Architecture.values()) if (a.label().equals(mt)) return a;
      name = "model_type " + mt;
    }
    try {
      return Architecture.fromHf(name);
    } catch (IllegalArgumentException e) {
      throw new ModelFormatException(f + ": architectures: " + e.getMessage(), e);
    }
  }

  private static int intKey(Path f, Map<String, Object> m, String key, Integer dflt) {
    Object v = m.get(key);
    if (v instanceof Number n) return n.intValue();
    if (dflt != null) return dflt;
    throw new ModelFormatException(f + ": key " + key + " is missing");
  }

  private static float num(Path f, Map<String, Object> m, String key) {
    if (m.get(key) instanceof Number n) return n.floatValue();
    throw new ModelFormatException(f + ": rope key " + key + " is missing");
  }

  private record TensorRef(Path file, String dtype, long[] shape, long begin, long end) {
    long elements() {
      long n = 1;
      for (long s : shape) n *= s;
      return n;
    }
  }

  @SuppressWarnings("unchecked")
  private static Map<String, TensorRef> index(Path dir) {
    Map<String, TensorRef> out = new HashMap<>();
    Path idx = dir.resolve("model.safetensors.index.json");
    List<Path> files;
    try {
      if (Files.exists(idx)) {
        Map<String, Object> m = (Map<String, Object>) Json.parse(Files.readString(idx));
        Map<String, Object> wm = (Map<String, Object>) m.get("weight_map");
        if (wm == null) throw new ModelFormatException(idx + ": weight_map is missing");
        files = wm.values().stream().map(o -> dir.resolve((String) o)).distinct().toList();
      } else {
        files = List.of(dir.resolve("model.safetensors"));
      }
      for (Path f : files) header(f, out);
    } catch (IOException e) {
      throw new ModelFormatException(dir + ": cannot read safetensors (" + e.getMessage() + ")", e);
    }
    return out;
  }

  @SuppressWarnings("unchecked")
  private static void header(Path f, Map<String, TensorRef> out) throws IOException {
    try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
      ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      ch.read(len, 0);
      long n = len.getLong(0);
      if (n <= 0 || n > 100_000_000 || 8 + n > ch.size()) throw new ModelFormatException(f + ": header length " + n + " is invalid");
      ByteBuffer hb = ByteBuffer.allocate((int) n);
      ch.read(hb, 8);
      Map<String, Object> h = (Map<String, Object>) Json.parse(new String(hb.array(), StandardCharsets.UTF_8));
      for (Map.Entry<String, Object> e : h.entrySet()) {
        if (e.getKey().equals("__metadata__")) continue;
        Map<String, Object> t = (Map<String, Object>) e.getValue();
        List<Object> shape = (List<Object>) t.get("shape");
        List<Object> offs = (List<Object>) t.get("data_offsets");
        long[] s = shape.stream().mapToLong(o -> ((Number) o).longValue()).toArray();
        out.put(e.getKey(), new TensorRef(f, (String) t.get("dtype"), s, 8 + n + ((Number) offs.get(0)).longValue(), 8 + n + ((Number) offs.get(1)).longValue()));
      }
    }
  }

  private static void read(Map<String, TensorRef> tensors, String name, float[] dst, long dstOff, long count) {
    TensorRef t = tensors.get(name);
    if (t == null) throw new ModelFormatException("safetensors: tensor " + name + " is missing");
    if (t.elements() != count) {
      throw new ModelFormatException(t.file + ": tensor " + name + ": expected " + count + " elements, found " + t.elements());
    }
    int eb = switch (t.dtype) {
      case "F32" -> 4;
      case "BF16", "F16" -> 2;
      default -> throw new ModelFormatException(t.file + ": tensor " + name + " has dtype " + t.dtype + "; supported: BF16, F16, F32");
    };
    if (t.end - t.begin != count * eb) throw new ModelFormatException(t.file + ": tensor " + name + " has " + (t.end - t.begin) + " bytes, expected " + count * eb);
    try (FileChannel ch = FileChannel.open(t.file, StandardOpenOption.READ)) {
      long chunk = 1L << 26;
      for (long done = 0; done < count; ) {
        long n = Math.min(chunk / eb, count - done);
        ByteBuffer b = ch.map(FileChannel.MapMode.READ_ONLY, t.begin + done * eb, n * eb).order(ByteOrder.LITTLE_ENDIAN);
        int o = Math.toIntExact(dstOff + done);
        switch (t.dtype) {
          case "F32" -> b.asFloatBuffer().get(dst, o, (int) n);
          case "BF16" -> {
            for (int i = 0; i < n; i++) dst[o + i] = Float.intBitsToFloat((b.getShort(2 * i) & 0xffff) << 16);
          }
          default -> {
            for (int i = 0; i < n; i++) dst[o + i] = halfToFloat(b.getShort(2 * i));
          }
        }
        done += n;
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** IEEE binary16 bits to float32 (exact; subnormals, infinities and NaN included). */
  static float halfToFloat(short h) {
    int bits = h & 0xffff;
    int sign = (bits & 0x8000) << 16;
    int exp = (bits >>> 10) & 0x1f;
    int mant = bits & 0x3ff;
    if (exp == 0x1f) return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
    if (exp == 0) {
      float v = mant * 0x1p-24f;
      return sign != 0 ? -v : v;
    }
    return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
  }
}
