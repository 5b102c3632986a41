package io.prism.cuda;

import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.model.ModelWeights;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Test data for the GPU tests: the shared directory ({@code prism.shared}, else {@code ../shared}),
 * a minimal llama2.c v0 checkpoint reader (header of 7 int32, then float32 tensors in llama2.c's
 * order; a negative vocab size means an unshared classifier at the end) and the oracle files.
 */
final class TestModels {
  private TestModels() {}

  static Path shared() {
    String p = System.getProperty("prism.shared");
    return p != null && !p.isBlank() ? Path.of(p) : Path.of("../shared");
  }

  static Path models() {
    return shared().resolve("models");
  }

  static LoadedModel stories260k() {
    return llama2c(models().resolve("stories260K.bin"));
  }

  static LoadedModel llama2c(Path file) {
    try {
      ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
      int dim = b.getInt(), hidden = b.getInt(), layers = b.getInt(), heads = b.getInt(), kvHeads = b.getInt();
      int vocab = b.getInt(), seq = b.getInt();
      boolean shared = vocab > 0;
      vocab = Math.abs(vocab);
      String name = file.getFileName().toString().replaceFirst("\\.bin$", "");
      ModelConfig c = new ModelConfig(name, dim, hidden, layers, heads, kvHeads, vocab, seq, 10000f, null, 1e-5f, shared);
      FloatBuffer f = b.asFloatBuffer();
      int kv = c.kvDim(), hs = c.headDim();
      float[] emb = take(f, (long) vocab * dim);
      float[] attn = take(f, (long) layers * dim);
      float[] wq = take(f, (long) layers * dim * dim);
      float[] wk = take(f, (long) layers * kv * dim);
      float[] wv = take(f, (long) layers * kv * dim);
      float[] wo = take(f, (long) layers * dim * dim);
      float[] ffn = take(f, (long) layers * dim);
      float[] w1 = take(f, (long) layers * hidden * dim);
      float[] w2 = take(f, (long) layers * dim * hidden);
      float[] w3 = take(f, (long) layers * hidden * dim);
      float[] fin = take(f, dim);
      take(f, (long) seq * hs / 2);
      take(f, (long) seq * hs / 2);
      float[] cls = shared ? emb : take(f, (long) vocab * dim);
      ModelWeights w = new ModelWeights(c, emb, attn, wq, wk, wv, wo, ffn, w1, w2, w3, fin, cls);
      return new LoadedModel(name, file.toString(), c, w, null);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static float[] take(FloatBuffer f, long n) {
    float[] a = new float[Math.toIntExact(n)];
    f.get(a);
    return a;
  }

  static int[] ints(Path file) {
    try {
      return Arrays.stream(Files.readString(file).trim().split("\\s+")).mapToInt(Integer::parseInt).toArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static float[] floatsText(Path file) {
    try {
      String[] s = Files.readString(file).trim().split("\\s+");
      float[] out = new float[s.length];
      for (int i = 0; i < s.length; i++) out[i] = Float.parseFloat(s[i]);
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** ||a - b|| / ||b||. */
  static double relativeError(float[] a, float[] b) {
    double num = 0, den = 0;
    for (int i = 0; i < a.length; i++) {
      double d = a[i] - b[i];
      num += d * d;
      den += (double) b[i] * b[i];
    }
    return Math.sqrt(num / den);
  }

  static double maxAbsError(float[] a, float[] b) {
    double m = 0;
    for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
    return m;
  }

  static int argmax(float[] a) {
    int best = 0;
    for (int i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
    return best;
  }
}
