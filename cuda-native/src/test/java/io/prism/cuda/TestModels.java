package io.prism.cuda;

import io.prism.runtime.model.Llama2cLoader;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.model.ModelWeights;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Test data for the GPU tests: the shared directory ({@code prism.shared}, else {@code ../shared}),
 * llama2.c checkpoints through {@link Llama2cLoader}, the oracle files and error measures.
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

  /** stories260K with its llama2.c tokenizer (tok512.bin beside it), for tests that encode text. */
  static LoadedModel stories260kWithTokenizer() {
    return io.prism.runtime.model.ModelLoader.load(models().resolve("stories260K.bin").toString(), models().resolve("tok512.bin"));
  }

  static LoadedModel llama2c(Path file) {
    ModelWeights w = Llama2cLoader.load(file);
    String name = file.getFileName().toString().replaceFirst("\\.bin$", "");
    return new LoadedModel(name, file.toString(), w.config, w, null);
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
