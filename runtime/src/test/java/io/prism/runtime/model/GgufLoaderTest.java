package io.prism.runtime.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.format.ModelFormatException;
import io.prism.runtime.model.GgufReader.GgufFile;
import io.prism.runtime.tokenizer.SentencePieceTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GgufLoaderTest {
  static final int F32 = 0, F16 = 1, Q8_0 = 8, Q2_K = 10, BF16 = 30;

  @Test
  void storiesGgufTensorsEqualTheLlama2cCheckpointBitForBit() {
    ModelWeights bin = Llama2cLoader.load(SharedModels.file("stories260K.bin"));
    GgufFile g = GgufReader.read(SharedModels.file("stories260K.gguf"));
    ModelConfig c = GgufLoader.readConfig(g);
    ModelWeights gguf = GgufLoader.loadWeights(g, c);
    ModelConfig b = bin.config;
    assertEquals(List.of(b.dim(), b.hiddenDim(), b.numLayers(), b.numHeads(), b.numKvHeads(), b.vocabSize()),
        List.of(c.dim(), c.hiddenDim(), c.numLayers(), c.numHeads(), c.numKvHeads(), c.vocabSize()));
    assertEquals(b.ropeTheta(), c.ropeTheta());
    assertEquals(b.normEps(), c.normEps());
    assertNull(c.ropeScaling());
    // raw tensors, q and k included: equal means no rope permutation between the two files
    assertArrayEquals(bin.tokenEmbedding, gguf.tokenEmbedding);
    assertArrayEquals(bin.wq, gguf.wq, "attn_q rows are not permuted");
    assertArrayEquals(bin.wk, gguf.wk, "attn_k rows are not permuted");
    assertArrayEquals(bin.wv, gguf.wv);
    assertArrayEquals(bin.wo, gguf.wo);
    assertArrayEquals(bin.attnNorm, gguf.attnNorm);
    assertArrayEquals(bin.ffnNorm, gguf.ffnNorm);
    assertArrayEquals(bin.w1, gguf.w1);
    assertArrayEquals(bin.w2, gguf.w2);
    assertArrayEquals(bin.w3, gguf.w3);
    assertArrayEquals(bin.finalNorm, gguf.finalNorm);
    assertArrayEquals(bin.classifier, gguf.classifier, "the GGUF's explicit output.weight is the shared embedding");
  }

  @Test
  void embeddedVocabularyEncodesLikeTok512() {
    GgufFile g = GgufReader.read(SharedModels.file("stories260K.gguf"));
    SentencePieceTokenizer gguf = GgufLoader.readTokenizer(g);
    SentencePieceTokenizer tok = SentencePieceTokenizer.fromLlama2cFile(SharedModels.file("tok512.bin"));
    assertEquals(tok.vocabSize(), gguf.vocabSize());
    assertTrue(gguf.byteFallback());
    for (String text : new String[] {"Once upon a time", "Lily's mom said, \"Don't worry.\"", "café ☃ 世界"}) {
      assertArrayEquals(tok.encode(text, true, false), gguf.encode(text, true, false), text);
      assertEquals(text, gguf.decode(Arrays.copyOfRange(gguf.encode(text, true, false), 1, gguf.encode(text, true, false).length)));
    }
  }

  @Test
  void dequantisesF16Bf16AndQ8_0Exactly(@TempDir Path dir) throws IOException {
    ModelConfig c = tinyConfig(false);
    Map<String, Integer> types = new HashMap<>();
    types.put("token_embd.weight", F16);
    types.put("blk.0.attn_q.weight", BF16);
    types.put("blk.1.attn_q.weight", Q8_0);
    types.put("blk.0.ffn_down.weight", Q8_0);
    types.put("output.weight", BF16);
    Path file = tinyLlama(c, types).write(dir.resolve("tiny.gguf"));
    LoadedModel m = ModelLoader.load(file.toString(), null);
    assertEquals("tiny", m.id());
    ModelWeights w = m.weights();
    Map<String, float[]> expected = tinyValues(c);
    int d = c.dim();
    assertArrayEquals(expected.get("token_embd.weight"), w.tokenEmbedding);
    assertArrayEquals(expected.get("output.weight"), w.classifier);
    assertArrayEquals(expected.get("blk.0.attn_q.weight"), Arrays.copyOfRange(w.wq, 0, d * d));
    assertArrayEquals(expected.get("blk.1.attn_q.weight"), Arrays.copyOfRange(w.wq, d * d, 2 * d * d));
    assertArrayEquals(expected.get("blk.0.ffn_down.weight"), Arrays.copyOfRange(w.w2, 0, d * c.hiddenDim()));
    assertArrayEquals(expected.get("blk.1.ffn_norm.weight"), Arrays.copyOfRange(w.ffnNorm, d, 2 * d));
    assertArrayEquals(expected.get("output_norm.weight"), w.finalNorm);
  }

  @Test
  void missingOutputTensorMeansSharedClassifier(@TempDir Path dir) throws IOException {
    ModelConfig c = tinyConfig(true);
    LoadedModel m = ModelLoader.load(tinyLlama(c, Map.of()).write(dir.resolve("shared.gguf")).toString(), null);
    assertTrue(m.config().sharedClassifier());
    assertTrue(m.weights().classifier == m.weights().tokenEmbedding);
  }

  @Test
  void rejectsUnsupportedTensorTypeNamingTensorAndType(@TempDir Path dir) throws IOException {
    ModelConfig c = tinyConfig(false);
    GgufTestWriter w = tinyLlama(c, Map.of("blk.1.ffn_up.weight", Q2_K));
    Path file = w.write(dir.resolve("q2k.gguf"));
    ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelLoader.load(file.toString(), null));
    assertEquals("q2k.gguf: tensor blk.1.ffn_up.weight type: expected one of F32, F16, Q4_0, Q8_0, Q4_K, Q5_K, Q6_K, BF16, found Q2_K (not supported)",
        e.getMessage());
  }

  @Test
  void rejectsWrongMagicVersionAndArchitecture(@TempDir Path dir) throws IOException {
    ModelConfig c = tinyConfig(false);
    Path magic = tinyLlama(c, Map.of()).magic(new byte[] {'G', 'G', 'M', 'L'}).write(dir.resolve("magic.gguf"));
    assertMessage(() -> ModelLoader.load(magic.toString(), null), "magic.gguf: magic: expected \"GGUF\", found 0x47474D4C");
    Path version = tinyLlama(c, Map.of()).version(7).write(dir.resolve("v7.gguf"));
    assertMessage(() -> ModelLoader.load(version.toString(), null), "v7.gguf: version: expected 3 (or 2), found 7");
    Path arch = tinyLlama(c, Map.of()).string("general.architecture", "phi3").write(dir.resolve("phi.gguf"));
    assertMessage(() -> ModelLoader.load(arch.toString(), null), "phi.gguf: metadata general.architecture: expected one of llama, qwen2, qwen3, found \"phi3\"");
  }

  @Test
  void rejectsTensorOfWrongShape(@TempDir Path dir) throws IOException {
    ModelConfig c = tinyConfig(false);
    GgufTestWriter w = tinyLlama(c, Map.of());
    w.tensor("blk.0.attn_k.weight", new long[] {c.dim(), c.dim()}, F32, GgufTestWriter.f32(new float[c.dim() * c.dim()])); // second definition
    Path dup = w.write(dir.resolve("dup.gguf"));
    assertMessage(() -> ModelLoader.load(dup.toString(), null), "dup.gguf: tensor blk.0.attn_k.weight: expected a unique name");
    ModelConfig wide = new ModelConfig("x", c.dim(), c.hiddenDim(), c.numLayers(), c.numHeads(), c.numHeads(), c.vocabSize(), c.maxSeqLen(), 1e4f, null, 1e-5f, false);
    Path wrong = tinyLlama(wide, Map.of()).u32("llama.attention.head_count_kv", c.numKvHeads()).write(dir.resolve("shape.gguf"));
    assertMessage(() -> ModelLoader.load(wrong.toString(), null),
        "shape.gguf: tensor blk.0.attn_k.weight dims: expected [" + c.dim() + ", " + c.kvDim() + "], found [" + c.dim() + ", " + c.dim() + "]");
  }

  @Test
  void reportsTruncatedFile(@TempDir Path dir) throws IOException {
    byte[] all = Files.readAllBytes(SharedModels.file("stories260K.gguf"));
    Path cut = dir.resolve("cut.gguf");
    Files.write(cut, Arrays.copyOf(all, all.length - 1000));
    ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelLoader.load(cut.toString(), null));
    assertTrue(e.getMessage().startsWith("cut.gguf: tensor blk.4."), e.getMessage());
    assertTrue(e.getMessage().contains("found a file of " + (all.length - 1000) + " bytes (truncated file)"), e.getMessage());
    Path header = dir.resolve("header.gguf");
    Files.write(header, Arrays.copyOf(all, 5000));
    ModelFormatException h = assertThrows(ModelFormatException.class, () -> ModelLoader.load(header.toString(), null));
    assertTrue(h.getMessage().startsWith("header.gguf: metadata tokenizer.ggml.") && h.getMessage().contains("truncated"), h.getMessage());
  }

  @Test
  void readsLlama3RopeFactorsAsRopeScaling(@TempDir Path dir) throws IOException {
    ModelConfig c = tinyConfig(false);
    RopeScaling s = new RopeScaling(8f, 1f, 4f, 8192);
    double theta = 500000;
    double[] f = GgufRopeScaling.factors(s, c.headDim(), theta);
    float[] ff = new float[f.length];
    for (int i = 0; i < f.length; i++) ff[i] = (float) f[i];
    assertTrue(ff[0] == 1f && ff[ff.length - 1] == 8f, "tiny head spans both regimes: " + Arrays.toString(ff));
    Path file = tinyLlama(c, Map.of()).f32("llama.rope.freq_base", (float) theta)
        .tensor("rope_freqs.weight", new long[] {ff.length}, F32, GgufTestWriter.f32(ff)).write(dir.resolve("l3.gguf"));
    assertEquals(s, ModelLoader.loadConfigOnly(file.toString(), null).config().ropeScaling());
    ff[1] *= 1.5f;
    Path bad = tinyLlama(c, Map.of()).f32("llama.rope.freq_base", (float) theta)
        .tensor("rope_freqs.weight", new long[] {ff.length}, F32, GgufTestWriter.f32(ff)).write(dir.resolve("bad.gguf"));
    assertMessage(() -> ModelLoader.load(bad.toString(), null), "bad.gguf: tensor rope_freqs.weight[1]: expected");
  }

  @Test
  void readsEveryMetadataValueType(@TempDir Path dir) throws IOException {
    GgufTestWriter w = new GgufTestWriter()
        .kv("u8", 0, new byte[] {(byte) 200})
        .kv("i8", 1, new byte[] {(byte) -5})
        .kv("u16", 2, GgufTestWriter.le(2).putShort((short) 60000).array())
        .kv("i16", 3, GgufTestWriter.le(2).putShort((short) -300).array())
        .u32("u32", 4000000000L)
        .kv("i32", 5, GgufTestWriter.le(4).putInt(-7).array())
        .f32("f32", 1.5f)
        .kv("bool", 7, new byte[] {1})
        .string("str", "héllo")
        .kv("u64", 10, GgufTestWriter.le(8).putLong(1L << 40).array())
        .kv("i64", 11, GgufTestWriter.le(8).putLong(-(1L << 40)).array())
        .kv("f64", 12, GgufTestWriter.le(8).putDouble(0.25).array())
        .ints("ints", new int[] {1, -2})
        .kv("nested", 9, GgufTestWriter.le(4 + 8 + 2 * (4 + 8 + 4)).putInt(9).putLong(2).putInt(5).putLong(1).putInt(3).putInt(5).putLong(1).putInt(4).array());
    GgufFile g = GgufReader.read(w.write(dir.resolve("meta.gguf")));
    Map<String, Object> m = g.metadata();
    assertEquals(200, m.get("u8"));
    assertEquals(-5, m.get("i8"));
    assertEquals(60000, m.get("u16"));
    assertEquals(-300, m.get("i16"));
    assertEquals(4000000000L, m.get("u32"));
    assertEquals(-7, m.get("i32"));
    assertEquals(1.5f, m.get("f32"));
    assertEquals(true, m.get("bool"));
    assertEquals("héllo", m.get("str"));
    assertEquals(1L << 40, m.get("u64"));
    assertEquals(-(1L << 40), m.get("i64"));
    assertEquals(0.25, m.get("f64"));
    assertArrayEquals(new int[] {1, -2}, (int[]) m.get("ints"));
    Object[] nested = (Object[]) m.get("nested");
    assertArrayEquals(new int[] {3}, (int[]) nested[0]);
    assertArrayEquals(new int[] {4}, (int[]) nested[1]);
    assertEquals(0, g.tensors().size());
    assertFalse(g.has("missing"));
  }

  private static void assertMessage(org.junit.jupiter.api.function.Executable e, String prefix) {
    ModelFormatException x = assertThrows(ModelFormatException.class, e);
    assertTrue(x.getMessage().startsWith(prefix), "message: " + x.getMessage() + "\nexpected prefix: " + prefix);
  }

  static ModelConfig tinyConfig(boolean shared) {
    return new ModelConfig("tiny", 32, 64, 2, 4, 2, 400, 64, 10000f, null, 1e-5f, shared);
  }

  /** Element values of every tensor of the tiny model: multiples of 1/64 in [-0.5, 0.5). */
  static Map<String, float[]> tinyValues(ModelConfig c) {
    Map<String, float[]> m = new HashMap<>();
    int k = 0;
    for (Map.Entry<String, long[]> e : GgufLoader.expectedTensors(c).entrySet()) {
      long n = 1;
      for (long d : e.getValue()) n *= d;
      float[] v = new float[(int) n];
      for (int i = 0; i < n; i++) v[i] = ((i * 7 + k * 13) % 64 - 32) / 64f;
      m.put(e.getKey(), v);
      k++;
    }
    return m;
  }

  /** A tiny llama GGUF with the synthetic vocabulary; tensors F32 unless {@code types} says otherwise. */
  static GgufTestWriter tinyLlama(ModelConfig c, Map<String, Integer> types) {
    SentencePieceTokenizer vocab = RandomModels.syntheticTokenizer(c.vocabSize());
    String[] pieces = new String[c.vocabSize()];
    float[] scores = new float[pieces.length];
    int[] tt = new int[pieces.length];
    for (int i = 0; i < pieces.length; i++) {
      pieces[i] = vocab.piece(i).replace(' ', '\u2581');
      scores[i] = vocab.score(i);
      tt[i] = vocab.tokenType(i);
    }
    GgufTestWriter w = new GgufTestWriter()
        .string("general.architecture", "llama")
        .u32("llama.embedding_length", c.dim())
        .u32("llama.feed_forward_length", c.hiddenDim())
        .u32("llama.block_count", c.numLayers())
        .u32("llama.attention.head_count", c.numHeads())
        .u32("llama.attention.head_count_kv", c.numKvHeads())
        .u32("llama.context_length", c.maxSeqLen())
        .u32("llama.rope.dimension_count", c.headDim())
        .f32("llama.attention.layer_norm_rms_epsilon", c.normEps())
        .string("tokenizer.ggml.model", "llama")
        .strings("tokenizer.ggml.tokens", pieces)
        .floats("tokenizer.ggml.scores", scores)
        .ints("tokenizer.ggml.token_type", tt)
        .u32("tokenizer.ggml.bos_token_id", 1)
        .u32("tokenizer.ggml.eos_token_id", 2);
    Map<String, float[]> values = tinyValues(c);
    for (Map.Entry<String, long[]> e : GgufLoader.expectedTensors(c).entrySet()) {
      int type = types.getOrDefault(e.getKey(), F32);
      float[] v = values.get(e.getKey());
      byte[] data = switch (type) {
        case F16 -> GgufTestWriter.f16(v);
        case BF16 -> GgufTestWriter.bf16(v);
        case Q8_0 -> GgufTestWriter.q8(v, 1 / 64f);
        case F32 -> GgufTestWriter.f32(v);
        default -> new byte[v.length / 256 * 84]; // Q2_K-sized payload (never read)
      };
      w.tensor(e.getKey(), e.getValue(), type, data);
    }
    return w;
  }
}
