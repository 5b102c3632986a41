package io.prism.runtime.forward;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

class VectorMathTest {
  private static final int L = FloatVector.SPECIES_PREFERRED.length();

  private static float[] inputs() {
    SplittableRandom r = new SplittableRandom(9);
    float[] x = new float[L * 4000];
    for (int i = 0; i < x.length; i++) x[i] = (float) ((r.nextDouble() * 2 - 1) * (i % 3 == 0 ? 100 : i % 3 == 1 ? 10 : 0.5));
    x[0] = 0f;
    x[1] = -0f;
    x[2] = 88f;
    x[3] = -87f;
    return x;
  }

  @Test
  void vectorExpGivesTheBitsOfItsScalarTwin() {
    float[] x = inputs(), v = new float[x.length];
    for (int i = 0; i < x.length; i += L) VectorMath.exp(FloatVector.fromArray(FloatVector.SPECIES_PREFERRED, x, i)).intoArray(v, i);
    for (int i = 0; i < x.length; i++) {
      assertEquals(Float.floatToRawIntBits(VectorMath.exp(x[i])), Float.floatToRawIntBits(v[i]), "exp(" + x[i] + ")");
    }
  }

  @Test
  void expIsWithinAFewUlpOfMathExpOverItsRange() {
    for (float x : inputs()) {
      double expected = Math.exp(Math.min(88f, Math.max(-87f, x)));
      double rel = Math.abs(VectorMath.exp(x) - expected) / expected;
      assertTrue(rel < 3e-7, "exp(" + x + ") relative error " + rel);
    }
    assertEquals(1f, VectorMath.exp(0f));
  }
}
