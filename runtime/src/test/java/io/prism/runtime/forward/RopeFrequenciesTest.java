package io.prism.runtime.forward;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.model.RopeScaling;
import org.junit.jupiter.api.Test;

class RopeFrequenciesTest {
  private static ModelConfig config(float theta, RopeScaling scaling) {
    return new ModelConfig("t", 512, 64, 1, 4, 4, 10, 16, theta, scaling, 1e-5f, true); // head dim 128
  }

  @Test
  void unscaledFrequenciesFollowThetaToTheMinusTwoJOverHeadDim() {
    float[] f = RopeFrequencies.inverseFrequencies(config(10000f, null));
    assertEquals(64, f.length);
    for (int j = 0; j < f.length; j++) assertEquals(Math.pow(10000, -2.0 * j / 128), f[j], 1e-6 * Math.max(1e-3, f[j]));
  }

  @Test
  void llama3ScalingKeepsHighFrequenciesDividesLowOnesAndBlendsBetween() {
    RopeScaling s = new RopeScaling(8f, 1f, 4f, 8192);
    float[] plain = RopeFrequencies.inverseFrequencies(config(500000f, null));
    float[] scaled = RopeFrequencies.inverseFrequencies(config(500000f, s));
    int kept = 0, divided = 0, blended = 0;
    for (int j = 0; j < plain.length; j++) {
      double wavelen = 2 * Math.PI / plain[j];
      if (wavelen < 8192 / 4.0) {
        assertEquals(plain[j], scaled[j]);
        kept++;
      } else if (wavelen > 8192 / 1.0) {
        assertEquals(plain[j] / 8f, scaled[j], 1e-6f * plain[j]);
        divided++;
      } else {
        assertTrue(scaled[j] < plain[j] && scaled[j] > plain[j] / 8f, "blend at " + j);
        blended++;
      }
    }
    assertTrue(kept > 0 && divided > 0 && blended > 0, kept + " kept, " + divided + " divided, " + blended + " blended");
  }
}
