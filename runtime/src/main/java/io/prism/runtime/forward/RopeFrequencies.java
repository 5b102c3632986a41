package io.prism.runtime.forward;

import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.model.RopeScaling;

/**
 * Inverse frequencies of the rotary position embedding (Su et al., "RoFormer", 2021), one per pair
 * of a head: {@code f_j = 1 / theta^(2j / headDim)} for {@code j < headDim / 2}, computed in float
 * as llama2.c does ({@code 1.0f / powf(theta, head_dim / (float) head_size)}), then Llama-3 scaled
 * when the config has {@link RopeScaling} (Meta's Llama 3.1 {@code apply_scaling}; see that record).
 * Stateless.
 */
public final class RopeFrequencies {
  private RopeFrequencies() {}

  /** {@code [headDim / 2]} inverse frequencies for {@code config}. */
  public static float[] inverseFrequencies(ModelConfig config) {
    int headDim = config.headDim();
    float[] f = new float[headDim / 2];
    for (int j = 0; j < f.length; j++) {
      float p = (float) Math.pow(config.ropeTheta(), (2 * j) / (float) headDim);
      f[j] = 1.0f / p;
    }
    RopeScaling s = config.ropeScaling();
    if (s != null) {
      for (int j = 0; j < f.length; j++) f[j] = scaled(f[j], s);
    }
    return f;
  }

  /** One inverse frequency after Llama-3 scaling. */
  static float scaled(float freq, RopeScaling s) {
    double lowFreqWavelen = s.originalMaxPositions() / (double) s.lowFreqFactor();
    double highFreqWavelen = s.originalMaxPositions() / (double) s.highFreqFactor();
    double wavelen = 2 * Math.PI / freq;
    if (wavelen < highFreqWavelen) return freq;
    if (wavelen > lowFreqWavelen) return (float) (freq / s.factor());
    double smooth = (s.originalMaxPositions() / wavelen - s.lowFreqFactor()) / (s.highFreqFactor() - s.lowFreqFactor());
    return (float) ((1 - smooth) * freq / s.factor() + smooth * freq);
  }
}
