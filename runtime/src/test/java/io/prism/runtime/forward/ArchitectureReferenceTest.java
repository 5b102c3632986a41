package io.prism.runtime.forward;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.model.Architecture;
import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.model.ModelWeights;
import io.prism.runtime.model.SafetensorsLoader;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Host-backend logits of the tiny Hugging Face reference models (one per architecture, random
 * weights, built and evaluated in float32 by transformers 5.17: {@code make_reference_models.py})
 * against transformers' logits, at every position of the prompt (decode) and after a one-step
 * prefill.
 */
class ArchitectureReferenceTest {
  static final float TOLERANCE = 1e-4f;

  @ParameterizedTest
  @ValueSource(strings = {"llama", "qwen2", "qwen3", "mistral"})
  void hostLogitsMatchTransformersWithin1e4(String name) {
    ModelConfig c = SafetensorsLoader.config(ReferenceModels.dir(name), 0);
    assertEquals(Architecture.valueOf(name.toUpperCase(java.util.Locale.ROOT)), c.architecture());
    ModelWeights w = SafetensorsLoader.weights(ReferenceModels.dir(name), c);
    float[][] expected = ReferenceModels.logits(name, c.vocabSize());
    float[][] actual = ReferenceModels.hostLogits(w, ReferenceModels.PROMPT, 2);
    float worst = 0;
    for (int p = 0; p <= ReferenceModels.PROMPT.length; p++) {
      float[] e = expected[Math.min(p, ReferenceModels.PROMPT.length - 1)];
      for (int i = 0; i < e.length; i++) worst = Math.max(worst, Math.abs(e[i] - actual[p][i]));
    }
    System.out.printf("%s: max |host - transformers| = %.2e over %d positions x %d logits%n", name, worst, ReferenceModels.PROMPT.length, c.vocabSize());
    assertTrue(worst <= TOLERANCE, name + ": max abs logit difference " + worst + " > " + TOLERANCE);
  }

  @ParameterizedTest
  @ValueSource(strings = {"qwen3"})
  void qwen3HeadDimDiffersFromHiddenOverHeads(String name) {
    ModelConfig c = SafetensorsLoader.config(ReferenceModels.dir(name), 0);
    assertEquals(24, c.headDim());
    assertEquals(96, c.qDim());
    assertEquals(24, c.kvDim());
  }
}
