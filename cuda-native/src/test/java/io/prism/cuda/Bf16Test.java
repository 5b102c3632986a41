package io.prism.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class Bf16Test {
  @Test
  void roundsToNearestEvenAndKeepsValuesThatAreAlreadyBf16() {
    SplittableRandom r = new SplittableRandom(3);
    for (int i = 0; i < 10_000; i++) {
      float f = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(-8, 8)));
      float b = Bf16.round(f);
      assertEquals(b, Bf16.round(b), "idempotent for " + f);
      // bf16 keeps 8 significant bits: rounding error at most half a unit in the last place, 2^-8 relative
      assertTrue(Math.abs(b - f) <= Math.abs(f) * 0x1p-8f, f + " -> " + b);
    }
    // ties: 1 + 2^-8 lies halfway between 1 and 1 + 2^-7; even mantissa (1.0) wins
    assertEquals(1.0f, Bf16.round(1f + 0x1p-8f));
    assertEquals(1f + 0x1p-6f, Bf16.round(1f + 0x1p-7f + 0x1p-8f));
  }

  @Test
  void nanStaysNanAndInfinitiesStay() {
    assertTrue(Float.isNaN(Bf16.round(Float.NaN)));
    assertEquals(Float.POSITIVE_INFINITY, Bf16.round(Float.POSITIVE_INFINITY));
    assertEquals(Float.NEGATIVE_INFINITY, Bf16.round(Float.NEGATIVE_INFINITY));
  }
}
