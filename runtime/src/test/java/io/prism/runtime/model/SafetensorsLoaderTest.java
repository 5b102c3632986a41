package io.prism.runtime.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.format.ModelFormatException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A tiny Hugging Face Llama checkpoint written by the test (BF16, F16 and F32 tensors whose values
 * encode their row and column): config keys, dtype conversion and the rotate-half to adjacent-pair
 * row permutation of q_proj and k_proj.
 */
class SafetensorsLoaderTest {
  static final int DIM = 16, HEADS = 2, KV_HEADS = 1, HD = 8, HIDDEN = 32, VOCAB = 10;

  @TempDir Path dir;

  /** Value of element (r, c) of tensor number {@code k}: an integer, exact in bf16 and f16. */
  static float value(int k, int r, int c) {
    return (k * 7 + r * 5 + c) % 200 - 100;
  }

  private record T(String name, String dtype, int rows, int cols, int k) {}

  private void write(boolean rope3) throws IOException {
    T[] ts = {
      new T("model.embed_tokens.weight", "F32", VOCAB, DIM, 1),
      new T("lm_head.weight", "F32", VOCAB, DIM, 2),
      new T("model.norm.weight", "F32", 1, DIM, 3),
      new T("model.layers.0.input_layernorm.weight", "BF16", 1, DIM, 4),
      new T("model.layers.0.post_attention_layernorm.weight", "F16", 1, DIM, 5),
      new T("model.layers.0.self_attn.q_proj.weight", "BF16", HEADS * HD, DIM, 6),
      new T("model.layers.0.self_attn.k_proj.weight", "F16", KV_HEADS * HD, DIM, 7),
      new T("model.layers.0.self_attn.v_proj.weight", "BF16", KV_HEADS * HD, DIM, 8),
      new T("model.layers.0.self_attn.o_proj.weight", "F32", DIM, DIM, 9),
      new T("model.layers.0.mlp.gate_proj.weight", "BF16", HIDDEN, DIM, 10),
      new T("model.layers.0.mlp.up_proj.weight", "BF16", HIDDEN, DIM, 11),
      new T("model.layers.0.mlp.down_proj.weight", "BF16", DIM, HIDDEN, 12),
    };
    ByteArrayOutputStream data = new ByteArrayOutputStream();
    StringBuilder h = new StringBuilder("{\"__metadata__\":{\"format\":\"pt\"}");
    for (T t : ts) {
      int eb = t.dtype.equals("F32") ? 4 : 2;
      ByteBuffer b = ByteBuffer.allocate(t.rows * t.cols * eb).order(ByteOrder.LITTLE_ENDIAN);
      for (int r = 0; r < t.rows; r++) {
        for (int c = 0; c < t.cols; c++) {
          float v = value(t.k, r, c);
          switch (t.dtype) {
            case "F32" -> b.putFloat(v);
            case "BF16" -> b.putShort((short) (Float.floatToIntBits(v) >>> 16));
            default -> b.putShort(toHalf(v));
          }
        }
      }
      long begin = data.size();
      data.write(b.array());
      String shape = t.rows == 1 ? "[" + t.cols + "]" : "[" + t.rows + "," + t.cols + "]";
      h.append(",\"").append(t.name).append("\":{\"dtype\":\"").append(t.dtype).append("\",\"shape\":").append(shape)
          .append(",\"data_offsets\":[").append(begin).append(",").append(data.size()).append("]}");
    }
    h.append("}");
    byte[] hb = h.toString().getBytes(StandardCharsets.UTF_8);
    ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(hb.length);
    ByteArrayOutputStream file = new ByteArrayOutputStream();
    file.write(len.array());
    file.write(hb);
    file.write(data.toByteArray());
    Files.write(dir.resolve("model.safetensors"), file.toByteArray());
    String rope = rope3
        ? "\"rope_parameters\": {\"rope_type\": \"llama3\", \"rope_theta\": 500000.0, \"factor\": 8.0, \"low_freq_factor\": 1.0,"
            + " \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}"
        : "\"rope_theta\": 10000.0";
    Files.writeString(dir.resolve("config.json"), "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": " + DIM
        + ", \"intermediate_size\": " + HIDDEN + ", \"num_hidden_layers\": 1, \"num_attention_heads\": " + HEADS
        + ", \"num_key_value_heads\": " + KV_HEADS + ", \"vocab_size\": " + VOCAB + ", \"max_position_embeddings\": 128,"
        + " \"rms_norm_eps\": 1e-06, \"tie_word_embeddings\": false, \"head_dim\": " + HD + ", " + rope + "}");
  }

  static short toHalf(float v) {
    // exact for the small integers used here
    int bits = Float.floatToIntBits(v);
    int sign = (bits >>> 16) & 0x8000;
    float a = Math.abs(v);
    if (a == 0) return (short) sign;
    int exp = Math.getExponent(a);
    int mant = Math.round((a / (float) Math.pow(2, exp) - 1) * 1024);
    return (short) (sign | ((exp + 15) << 10) | mant);
  }

  @Test
  void readsConfigAndRopeParametersOfTransformersFive() throws IOException {
    write(true);
    ModelConfig c = SafetensorsLoader.config(dir, 0);
    assertEquals(DIM, c.dim());
    assertEquals(HIDDEN, c.hiddenDim());
    assertEquals(KV_HEADS, c.numKvHeads());
    assertEquals(128, c.maxSeqLen());
    assertEquals(500000f, c.ropeTheta());
    assertEquals(1e-6f, c.normEps());
    assertFalse(c.sharedClassifier());
    assertNotNull(c.ropeScaling());
    assertEquals(8f, c.ropeScaling().factor());
    assertEquals(8192, c.ropeScaling().originalMaxPositions());
  }

  @Test
  void convertsEveryDtypeAndPermutesQueryAndKeyRowsToAdjacentPairs() throws IOException {
    write(false);
    LoadedModel m = SafetensorsLoader.load(dir, 64);
    ModelWeights w = m.weights();
    assertEquals(64, m.config().maxSeqLen());
    assertEquals(10000f, m.config().ropeTheta());
    assertEquals(value(1, 3, 5), w.tokenEmbedding[3 * DIM + 5]);
    assertEquals(value(2, 9, 15), w.classifier[9 * DIM + 15]);
    assertEquals(value(4, 0, 7), w.attnNorm[7]);
    assertEquals(value(5, 0, 2), w.ffnNorm[2]);
    assertEquals(value(12, 4, 31), w.w2[4 * HIDDEN + 31]);
    assertEquals(value(11, 30, 1), w.w3[30 * DIM + 1]);
    int half = HD / 2;
    for (int h = 0; h < HEADS; h++) {
      for (int i = 0; i < half; i++) {
        for (int s = 0; s < 2; s++) {
          int ours = h * HD + 2 * i + s, theirs = h * HD + s * half + i;
          for (int col = 0; col < DIM; col++) {
            assertEquals(value(6, theirs, col), w.wq[ours * DIM + col]);
            if (h < KV_HEADS) assertEquals(value(7, theirs, col), w.wk[ours * DIM + col]);
          }
        }
      }
    }
    assertEquals(value(8, 5, 3), w.wv[5 * DIM + 3], "v_proj is not permuted");
  }

  @Test
  void aMissingTensorIsNamed() throws IOException {
    write(false);
    Files.writeString(dir.resolve("config.json"), Files.readString(dir.resolve("config.json")).replace("\"num_hidden_layers\": 1", "\"num_hidden_layers\": 2"));
    ModelFormatException e = assertThrows(ModelFormatException.class, () -> SafetensorsLoader.load(dir, 64));
    assertTrue(e.getMessage().contains("model.layers.1."), e.getMessage());
  }

  @Test
  void halfPrecisionDecodesSubnormalsAndSpecials() {
    assertEquals(1f, SafetensorsLoader.halfToFloat((short) 0x3c00));
    assertEquals(-2f, SafetensorsLoader.halfToFloat((short) 0xc000));
    assertEquals(0x1p-24f, SafetensorsLoader.halfToFloat((short) 0x0001));
    assertEquals(Float.POSITIVE_INFINITY, SafetensorsLoader.halfToFloat((short) 0x7c00));
    assertTrue(Float.isNaN(SafetensorsLoader.halfToFloat((short) 0x7e00)));
  }
}
