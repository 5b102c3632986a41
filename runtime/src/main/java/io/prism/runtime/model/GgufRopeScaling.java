package io.prism.runtime.model;

import io.prism.runtime.format.ModelFormatException;
import io.prism.runtime.model.GgufReader.GgufFile;
import io.prism.runtime.model.GgufReader.TensorInfo;

/**
 * Reads the rope scaling of a GGUF model (see {@link GgufLoader}): the optional {@code
 * rope_freqs.weight} tensor of Llama-3 frequency factors, checked against {@link RopeScaling}'s
 * formula, and the {@code <arch>.rope.scaling.*} metadata keys.
 */
final class GgufRopeScaling {
  /** Name of llama.cpp's per-frequency rope factor tensor. */
  static final String TENSOR = "rope_freqs.weight";
  /** Relative tolerance when matching stored factors against the Llama-3 formula. */
  private static final double TOLERANCE = 1e-3;

  private GgufRopeScaling() {}

  /**
   * @return the Llama-3 scaling, or {@code null} when the model has none
   * @throws ModelFormatException for an unsupported scaling type or factors that are not Llama-3's
   */
  static RopeScaling read(GgufFile g, String arch, int headDim, double theta) {
    String type = g.getString(arch + ".rope.scaling.type");
    TensorInfo t = g.tensors().get(TENSOR);
    if (t == null) {
      double factor = g.getDouble(arch + ".rope.scaling.factor", 1.0);
      if (type != null && !type.equals("none") && factor != 1.0) {
        throw new ModelFormatException(g.fileName() + ": metadata " + arch + ".rope.scaling.type: expected none or Llama-3 factors in " + TENSOR + ", found \""
            + type + "\" with factor " + factor + " (not supported by the forward pass)");
      }
      return null;
    }
    int half = headDim / 2;
    GgufLoader.checkTensor(g, t, new long[] {half});
    float[] ff = new float[half];
    try (MappedFile f = MappedFile.open(g.path())) {
      GgufLoader.read(f, g, TENSOR, ff, 0);
    }
    float factor = 1f;
    for (float x : ff) factor = Math.max(factor, x);
    if (factor == 1f) return null;
    int orig = g.getPositiveInt(arch + ".rope.scaling.original_context_length", 8192);
    RopeScaling s = new RopeScaling(factor, 1f, 4f, orig);
    double[] expected = factors(s, headDim, theta);
    for (int i = 0; i < half; i++) {
      if (Math.abs(ff[i] - expected[i]) > TOLERANCE * expected[i]) {
        throw new ModelFormatException(g.fileName() + ": tensor " + TENSOR + "[" + i + "]: expected " + (float) expected[i]
            + " (Llama-3 scaling, factor " + factor + ", low 1, high 4, original context " + orig + "), found " + ff[i]);
      }
    }
    return s;
  }

  /**
   * The per-frequency divisors that Llama-3 scaling applies to {@code theta^(-2i/headDim)}, as
   * llama.cpp stores them in {@code rope_freqs.weight} (Meta's Llama 3.1 reference algorithm).
   */
  static double[] factors(RopeScaling s, int headDim, double theta) {
    int half = headDim / 2;
    double[] out = new double[half];
    double lowWavelen = s.originalMaxPositions() / (double) s.lowFreqFactor();
    double highWavelen = s.originalMaxPositions() / (double) s.highFreqFactor();
    for (int i = 0; i < half; i++) {
      double freq = Math.pow(theta, -2.0 * i / headDim);
      double wavelen = 2 * Math.PI / freq;
      if (wavelen < highWavelen) {
        out[i] = 1;
      } else if (wavelen > lowWavelen) {
        out[i] = s.factor();
      } else {
        double smooth = (s.originalMaxPositions() / wavelen - s.lowFreqFactor()) / (s.highFreqFactor() - s.lowFreqFactor());
        out[i] = 1 / ((1 - smooth) / s.factor() + smooth);
      }
    }
    return out;
  }
}
