package io.prism.runtime.model;

/**
 * Llama-3 style RoPE frequency scaling ({@code rope_scaling} with {@code rope_type = "llama3"} in a
 * Hugging Face {@code config.json}; {@code llama.rope.scaling.*} in GGUF metadata).
 *
 * <p>Algorithm (Meta's Llama 3.1 reference): for each inverse frequency {@code f} of the rotary
 * embedding, with wavelength {@code w = 2*pi/f}: if {@code w < originalMaxPositions /
 * highFreqFactor} keep {@code f}; if {@code w > originalMaxPositions / lowFreqFactor} use {@code
 * f / factor}; otherwise interpolate smoothly between the two with {@code s = (originalMaxPositions
 * / w - lowFreqFactor) / (highFreqFactor - lowFreqFactor)}, {@code f' = (1 - s) * f / factor + s * f}.
 *
 * @param factor scale applied to low frequencies (8.0 for Llama 3.1, 32.0 for Llama 3.2)
 * @param lowFreqFactor 1.0 for Llama 3.x
 * @param highFreqFactor 4.0 for Llama 3.x
 * @param originalMaxPositions context length the model was pre-trained with (8192 for Llama 3)
 */
public record RopeScaling(float factor, float lowFreqFactor, float highFreqFactor, int originalMaxPositions) {
  public RopeScaling {
    if (!(factor >= 1f)) throw new IllegalArgumentException("rope scaling factor must be >= 1, got " + factor);
    if (!(highFreqFactor > lowFreqFactor)) {
      throw new IllegalArgumentException("rope high-freq-factor " + highFreqFactor + " must exceed low-freq-factor " + lowFreqFactor);
    }
    if (originalMaxPositions <= 0) throw new IllegalArgumentException("rope original max positions must be > 0, got " + originalMaxPositions);
  }
}
