package io.prism.runtime.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.format.ModelFormatException;
import io.prism.runtime.forward.ReferenceModels;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * GGUF files of the {@code llama}, {@code qwen2} and {@code qwen3} architectures, written here the
 * way llama.cpp's converter writes them (tensor names, {@code <arch>.*} keys, q/k rows in
 * adjacent-pair order for llama and in Hugging Face's order for qwen2/qwen3), load to exactly the
 * weights of the same model read from its Hugging Face folder; the host logits of the GGUF copies of
 * the transformers reference models match transformers; quantized files with per-tensor type mixes
 * (Q4_K_M, Q5_K_M, Q4_0, Q8_0) load to exactly the dequantised blocks.
 */
class GgufArchitectureTest {
  static final int F32 = 0;

  /** Inverse of {@link SafetensorsLoader#permuteRope}: adjacent-pair order back to Hugging Face's halves. */
  static float[] unpermute(float[] src, int off, int heads, int headDim, int cols) {
    float[] out = new float[heads * headDim * cols];
    int half = headDim / 2;
    for (int h = 0; h < heads; h++) {
      for (int i = 0; i < half; i++) {
        for (int s = 0; s < 2; s++) {
          System.arraycopy(src, off + (h * headDim + 2 * i + s) * cols, out, (h * headDim + s * half + i) * cols, cols);
        }
      }
    }
    return out;
  }

  static float[] slice(float[] a, int off, int n) {
    return java.util.Arrays.copyOfRange(a, off, off + n);
  }

  /** GGUF tensors (name to values in file order) of weights {@code w}, as llama.cpp's converter lays them out. */
  static Map<String, float[]> ggufTensors(ModelWeights w) {
    ModelConfig c = w.config;
    boolean hfOrder = c.architecture() == Architecture.QWEN2 || c.architecture() == Architecture.QWEN3;
    int d = c.dim(), qd = c.qDim(), kv = c.kvDim(), h = c.hiddenDim(), hd = c.headDim();
    Map<String, float[]> m = new LinkedHashMap<>();
    m.put("token_embd.weight", w.tokenEmbedding);
    m.put("output_norm.weight", w.finalNorm);
    if (!c.sharedClassifier()) m.put("output.weight", w.classifier);
    for (int l = 0; l < c.numLayers(); l++) {
      String p = "blk." + l + ".";
      m.put(p + "attn_norm.weight", slice(w.attnNorm, l * d, d));
      m.put(p + "attn_q.weight", hfOrder ? unpermute(w.wq, l * qd * d, c.numHeads(), hd, d) : slice(w.wq, l * qd * d, qd * d));
      m.put(p + "attn_k.weight", hfOrder ? unpermute(w.wk, l * kv * d, c.numKvHeads(), hd, d) : slice(w.wk, l * kv * d, kv * d));
      m.put(p + "attn_v.weight", slice(w.wv, l * kv * d, kv * d));
      if (w.bq != null) {
        m.put(p + "attn_q.bias", unpermute(w.bq, l * qd, c.numHeads(), hd, 1));
        m.put(p + "attn_k.bias", unpermute(w.bk, l * kv, c.numKvHeads(), hd, 1));
        m.put(p + "attn_v.bias", slice(w.bv, l * kv, kv));
      }
      if (w.qNorm != null) {
        m.put(p + "attn_q_norm.weight", unpermute(w.qNorm, l * hd, 1, hd, 1));
        m.put(p + "attn_k_norm.weight", unpermute(w.kNorm, l * hd, 1, hd, 1));
      }
      m.put(p + "attn_output.weight", slice(w.wo, l * d * qd, d * qd));
      m.put(p + "ffn_norm.weight", slice(w.ffnNorm, l * d, d));
      m.put(p + "ffn_gate.weight", slice(w.w1, l * h * d, h * d));
      m.put(p + "ffn_down.weight", slice(w.w2, l * d * h, d * h));
      m.put(p + "ffn_up.weight", slice(w.w3, l * h * d, h * d));
    }
    return m;
  }

  /** A GGUF of weights {@code w} with tensor types from {@code typeOf} (F32 for null) and a placeholder vocabulary. */
  static Path writeGguf(ModelWeights w, Function<String, GgmlType> typeOf, Path file) throws IOException {
    ModelConfig c = w.config;
    String arch = c.architecture() == Architecture.MISTRAL ? "llama" : c.architecture().label();
    String[] pieces = new String[c.vocabSize()]; // a placeholder vocabulary: the weights are under test
    float[] scores = new float[pieces.length];
    for (int i = 0; i < pieces.length; i++) pieces[i] = "<t" + i + ">";
    GgufTestWriter g = new GgufTestWriter()
        .string("general.architecture", arch)
        .u32(arch + ".embedding_length", c.dim())
        .u32(arch + ".feed_forward_length", c.hiddenDim())
        .u32(arch + ".block_count", c.numLayers())
        .u32(arch + ".attention.head_count", c.numHeads())
        .u32(arch + ".attention.head_count_kv", c.numKvHeads())
        .u32(arch + ".attention.key_length", c.headDim())
        .u32(arch + ".attention.value_length", c.headDim())
        .u32(arch + ".context_length", c.maxSeqLen())
        .u32(arch + ".rope.dimension_count", c.headDim())
        .f32(arch + ".rope.freq_base", c.ropeTheta())
        .f32(arch + ".attention.layer_norm_rms_epsilon", c.normEps())
        .string("tokenizer.ggml.model", "llama")
        .strings("tokenizer.ggml.tokens", pieces)
        .floats("tokenizer.ggml.scores", scores);
    if (c.ropeScaling() != null) { // llama.cpp stores Llama-3 scaling as per-frequency factors
      double[] f = GgufRopeScaling.factors(c.ropeScaling(), c.headDim(), c.ropeTheta());
      float[] ff = new float[f.length];
      for (int i = 0; i < f.length; i++) ff[i] = (float) f[i];
      g.u32(arch + ".rope.scaling.original_context_length", c.ropeScaling().originalMaxPositions());
      g.tensor(GgufRopeScaling.TENSOR, new long[] {ff.length}, F32, GgufTestWriter.f32(ff));
    }
    for (Map.Entry<String, float[]> e : ggufTensors(w).entrySet()) {
      float[] v = e.getValue();
      GgmlType t = typeOf.apply(e.getKey());
      long[] dims = GgufLoader.expectedTensors(c).get(e.getKey());
      byte[] data = t == null ? GgufTestWriter.f32(v) : GgmlQuantizer.quantize(t, v, 0, v.length);
      g.tensor(e.getKey(), dims, t == null ? F32 : t.id, data);
    }
    return g.write(file);
  }

  static ModelWeights load(Path file) {
    GgufReader.GgufFile g = GgufReader.read(file);
    return GgufLoader.loadWeights(g, GgufLoader.readConfig(g));
  }

  @ParameterizedTest
  @ValueSource(strings = {"llama", "qwen2", "qwen3", "mistral"})
  void ggufOfReferenceModelLoadsTheSameWeightsAndMatchesTransformers(String name, @TempDir Path dir) throws IOException {
    ModelConfig hc = SafetensorsLoader.config(ReferenceModels.dir(name), 0);
    ModelWeights hf = SafetensorsLoader.weights(ReferenceModels.dir(name), hc);
    ModelWeights gg = load(writeGguf(hf, t -> null, dir.resolve(name + ".gguf")));
    ModelConfig gc = gg.config;
    assertEquals(name.equals("mistral") ? Architecture.LLAMA : hc.architecture(), gc.architecture());
    assertEquals(hc.headDim(), gc.headDim());
    assertEquals(hc.sharedClassifier(), gc.sharedClassifier());
    assertArrayEquals(hf.wq, gg.wq);
    assertArrayEquals(hf.wk, gg.wk);
    assertArrayEquals(hf.wo, gg.wo);
    assertArrayEquals(hf.bq, gg.bq);
    assertArrayEquals(hf.bk, gg.bk);
    assertArrayEquals(hf.bv, gg.bv);
    assertArrayEquals(hf.qNorm, gg.qNorm);
    assertArrayEquals(hf.kNorm, gg.kNorm);
    assertArrayEquals(hf.classifier, gg.classifier);
    assertEquals(hc.ropeScaling(), gc.ropeScaling());
    float[][] expected = ReferenceModels.logits(name, hc.vocabSize());
    float[][] actual = ReferenceModels.hostLogits(gg, ReferenceModels.PROMPT, 1);
    float worst = 0;
    for (int p = 0; p < ReferenceModels.PROMPT.length; p++) {
      for (int i = 0; i < hc.vocabSize(); i++) worst = Math.max(worst, Math.abs(expected[p][i] - actual[p][i]));
    }
    assertTrue(worst <= 1e-4f, name + " via GGUF: max abs logit difference " + worst);
  }

  /** A random model whose matrices are K-quantisable (every ne[0] a multiple of 256). */
  static ModelWeights randomModel(Architecture a, long seed) {
    int heads = 4, headDim = a == Architecture.QWEN3 ? 128 : 64; // qwen3: qDim 512 != dim 256
    ModelConfig c = new ModelConfig("kq-" + a.label(), a, 256, 512, 2, heads, 2, headDim, 256, 64, 1e6f, null, 1e-6f, a != Architecture.LLAMA);
    SplittableRandom r = new SplittableRandom(seed);
    Function<Integer, float[]> rnd = n -> {
      float[] v = new float[n];
      for (int i = 0; i < n; i++) v[i] = (float) (r.nextGaussian() * 0.05);
      return v;
    };
    Function<Integer, float[]> norm = n -> {
      float[] v = new float[n];
      for (int i = 0; i < n; i++) v[i] = 1f + (float) (r.nextGaussian() * 0.1);
      return v;
    };
    int l = c.numLayers(), d = c.dim(), qd = c.qDim(), kv = c.kvDim(), h = c.hiddenDim(), v = c.vocabSize();
    float[] emb = rnd.apply(v * d);
    return new ModelWeights(c, emb, norm.apply(l * d), rnd.apply(l * qd * d), rnd.apply(l * kv * d), rnd.apply(l * kv * d),
        rnd.apply(l * d * qd), norm.apply(l * d), rnd.apply(l * h * d), rnd.apply(l * d * h), rnd.apply(l * h * d), norm.apply(d),
        c.sharedClassifier() ? emb : rnd.apply(v * d),
        a.qkvBias() ? rnd.apply(l * qd) : null, a.qkvBias() ? rnd.apply(l * kv) : null, a.qkvBias() ? rnd.apply(l * kv) : null,
        a.qkNorm() ? norm.apply(l * c.headDim()) : null, a.qkNorm() ? norm.apply(l * c.headDim()) : null);
  }

  /**
   * llama.cpp's Q4_K_M / Q5_K_M recipe in outline: the base K type for most matrices, Q6_K for the
   * classifier and for attn_v and ffn_down in some layers (here layer 0), F32 vectors.
   */
  static Function<String, GgmlType> mix(GgmlType base) {
    return name -> {
      if (!name.endsWith(".weight") || name.contains("norm")) return null;
      if (name.equals("output.weight") || name.equals("blk.0.attn_v.weight") || name.equals("blk.0.ffn_down.weight")) return GgmlType.Q6_K;
      return base;
    };
  }

  @ParameterizedTest
  @ValueSource(strings = {"LLAMA:Q4_K", "QWEN2:Q4_K", "QWEN3:Q4_K", "LLAMA:Q5_K", "QWEN2:Q5_K", "QWEN3:Q5_K", "QWEN2:Q4_0", "QWEN3:Q8_0"})
  void quantizedMixLoadsToExactlyTheDequantisedBlocks(String spec, @TempDir Path dir) throws IOException {
    Architecture a = Architecture.valueOf(spec.split(":")[0]);
    GgmlType base = GgmlType.valueOf(spec.split(":")[1]);
    ModelWeights w = randomModel(a, 5);
    Function<String, GgmlType> types = base.blockElements == 256 ? mix(base) : n -> n.endsWith(".weight") && !n.contains("norm") ? base : null;
    ModelWeights q = load(writeGguf(w, types, dir.resolve("m.gguf")));
    // Expected: each tensor quantized and dequantised by the scalar reference, then laid out as the loader lays it out.
    Map<String, float[]> file = ggufTensors(w);
    Map<String, float[]> deq = new LinkedHashMap<>();
    for (Map.Entry<String, float[]> e : file.entrySet()) {
      GgmlType t = types.apply(e.getKey());
      float[] v = e.getValue();
      if (t == null) {
        deq.put(e.getKey(), v);
      } else {
        float[] y = new float[v.length];
        GgmlQuants.dequantize(t, GgmlQuantizer.quantize(t, v, 0, v.length), 0, y, 0, v.length);
        deq.put(e.getKey(), y);
      }
    }
    Map<String, float[]> loaded = ggufTensors(q);
    double err2 = 0, sig2 = 0;
    for (String n : file.keySet()) {
      assertArrayEquals(deq.get(n), loaded.get(n), 0f, spec + " tensor " + n);
      for (int i = 0; i < file.get(n).length; i++) {
        double e = file.get(n)[i] - loaded.get(n)[i];
        err2 += e * e;
        sig2 += file.get(n)[i] * (double) file.get(n)[i];
      }
    }
    assertTrue(Math.sqrt(err2 / sig2) < (base == GgmlType.Q4_0 || base == GgmlType.Q4_K ? 0.15 : 0.06), spec + " relative error " + Math.sqrt(err2 / sig2));
    float[][] exact = ReferenceModels.hostLogits(w, new int[] {1, 2, 3, 4}, 1);
    float[][] quant = ReferenceModels.hostLogits(q, new int[] {1, 2, 3, 4}, 1);
    double cos = cosine(exact[3], quant[3]);
    System.out.printf("%s: weights relative RMS error %.4f, logits cosine %.4f%n", spec, Math.sqrt(err2 / sig2), cos);
    assertTrue(cos > (base == GgmlType.Q4_0 || base == GgmlType.Q4_K ? 0.9 : 0.98), spec + " logits cosine " + cos);
  }

  @Test
  void quantizedQwenGgufLoadsThroughTheModelLoader(@TempDir Path dir) throws IOException {
    for (Architecture a : new Architecture[] {Architecture.QWEN2, Architecture.QWEN3}) {
      Path f = writeGguf(randomModel(a, 9), mix(GgmlType.Q4_K), dir.resolve(a.label() + "-q4_k_m.gguf"));
      LoadedModel m = ModelLoader.load(f.toString(), null);
      assertEquals(a.label() + "-q4_k_m", m.id());
      assertEquals(a, m.config().architecture());
      assertEquals(256, m.tokenizer().vocabSize());
      assertTrue(m.weights().bq != null == a.qkvBias() && m.weights().qNorm != null == a.qkNorm());
    }
  }

  @Test
  void quantizedMatricesForADeviceDecodeToTheHostWeights(@TempDir Path dir) throws IOException {
    java.util.Set<GgmlType> device = java.util.EnumSet.of(GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.Q8_0);
    for (Architecture a : new Architecture[] {Architecture.LLAMA, Architecture.QWEN2, Architecture.QWEN3}) {
      ModelWeights w = randomModel(a, 21);
      Path f = writeGguf(w, mix(GgmlType.Q4_K), dir.resolve(a.label() + ".gguf"));
      GgufReader.GgufFile g = GgufReader.read(f);
      ModelConfig c = GgufLoader.readConfig(g);
      ModelWeights host = GgufLoader.loadWeights(g, c);
      QuantizedMatrices q = GgufLoader.loadQuantized(g, c, device);
      float[][] hostMats = {host.wq, host.wk, host.wv, host.wo, host.w1, host.w3, host.w2};
      for (int l = 0; l < c.numLayers(); l++) {
        for (int m = 0; m < 7; m++) {
          QuantizedMatrices.Tensor t = q.get(l, m);
          float[] y = new float[t.rows() * t.cols()];
          QuantKernels.dequantize(t.type(), t.data(), 0, y, 0, y.length);
          assertArrayEquals(slice(hostMats[m], l * y.length, y.length), y, 0f, a + " layer " + l + " " + QuantizedMatrices.GGUF_NAMES[m]);
        }
      }
      ModelWeights deq = q.dequantized(host);
      assertArrayEquals(host.w2, deq.w2);
      assertArrayEquals(host.wq, deq.wq);
      if (q.classifier() != null) assertArrayEquals(host.classifier, deq.classifier);
      QuantizedMatrices again = QuantizedMatrices.quantize(w, QuantizedMatrices.kMix(w.config, GgmlType.Q4_K));
      assertEquals(GgmlType.Q6_K, again.classifier().type());
      assertTrue(again.bytes() < w.config.parameterCount() * 4 / 5, "Q4_K_M is well under a byte per weight: " + again.bytes());
      assertEquals(GgmlType.Q6_K, q.get(0, QuantizedMatrices.V).type());
      assertEquals(GgmlType.Q4_K, q.get(1, QuantizedMatrices.V).type());
      assertEquals(c.sharedClassifier(), q.classifier() != null && q.classifier().type() == GgmlType.Q4_K);
      Path q5 = writeGguf(w, mix(GgmlType.Q5_K), dir.resolve(a.label() + "-q5.gguf"));
      GgufReader.GgufFile g5 = GgufReader.read(q5);
      assertEquals(null, GgufLoader.loadQuantized(g5, GgufLoader.readConfig(g5), device), "Q5_K is not a device type: dense fallback");
    }
  }

  static double cosine(float[] a, float[] b) {
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < a.length; i++) {
      ab += a[i] * (double) b[i];
      aa += a[i] * (double) a[i];
      bb += b[i] * (double) b[i];
    }
    return ab / Math.sqrt(aa * bb);
  }

  @Test
  void unsupportedQuantTypeNamesTensorTypeAndSupportedTypes(@TempDir Path dir) throws IOException {
    ModelWeights w = randomModel(Architecture.QWEN2, 3);
    Path f = writeGguf(w, t -> null, dir.resolve("ok.gguf"));
    // one Q8_0 tensor whose type id is then patched to IQ4_XS (its payload is never read)
    Path bad = rewriteType(writeGguf(w, n -> n.equals("blk.1.ffn_up.weight") ? GgmlType.Q8_0 : null, dir.resolve("iq4.gguf")),
        "blk.1.ffn_up.weight", GgmlType.IQ4_XS);
    ModelFormatException e = assertThrows(ModelFormatException.class, () -> load(bad));
    assertTrue(e.getMessage().startsWith("iq4.gguf: tensor blk.1.ffn_up.weight type: expected one of "), e.getMessage());
    assertTrue(e.getMessage().contains("Q4_K, Q5_K, Q6_K") && e.getMessage().endsWith("found IQ4_XS (not supported)"), e.getMessage());
    assertEquals(Architecture.QWEN2, GgufLoader.readConfig(GgufReader.read(f)).architecture());
  }

  /** Patches the type id of {@code tensor} in the tensor infos of {@code file} (name, n_dims u32, dims u64[n], type u32, offset u64). */
  private static Path rewriteType(Path file, String tensor, GgmlType type) throws IOException {
    byte[] b = java.nio.file.Files.readAllBytes(file);
    byte[] name = tensor.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    outer:
    for (int i = 0; i + name.length < b.length; i++) {
      for (int k = 0; k < name.length; k++) if (b[i + k] != name[k]) continue outer;
      int p = i + name.length;
      int nDims = b[p] & 0xFF;
      int typeAt = p + 4 + 8 * nDims;
      b[typeAt] = (byte) type.id;
      java.nio.file.Files.write(file, b);
      return file;
    }
    throw new IllegalStateException("tensor " + tensor + " not found in " + file);
  }
}
