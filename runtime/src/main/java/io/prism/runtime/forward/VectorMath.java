package io.prism.runtime.forward;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector functions built only from IEEE-exact lane operations (add, multiply, fused multiply-add,
 * integer shifts, bit reinterpretation), so they give the same bits whether HotSpot runs them
 * interpreted, C1-compiled or C2-intrinsified. The Vector API's own {@code EXP} does not: C2 calls
 * SVML while the fallback loops over {@link Math#exp}, and the two can differ in the last bit, which
 * would make a sequence's output depend on when the JIT warmed up (and break "batch gives what
 * each gives alone"). (Lane reductions with {@code reduceLanes(ADD)} are fine: HotSpot sums the
 * lanes in order in every tier.) Each vector method has a scalar twin computing exactly the same
 * formula, for loop tails and tests. Stateless and thread-safe.
 */
public final class VectorMath {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final float LOG2E = 1.44269504088896341f;
  private static final float LN2_HI = 0.693359375f;
  private static final float LN2_LO = -2.12194440e-4f;
  private static final float ROUND = 12582912f; // 1.5 * 2^23: adding it rounds to an integer in the low mantissa bits
  private static final float MAX_X = 88.0f;
  private static final float MIN_X = -87.0f;
  // Cephes expf minimax polynomial for exp(r) - 1 - r on |r| <= ln2 / 2 (Moshier, Cephes Math Library).
  private static final float P0 = 1.9875691500e-4f, P1 = 1.3981999507e-3f, P2 = 8.3334519073e-3f;
  private static final float P3 = 4.1665795894e-2f, P4 = 1.6666665459e-1f, P5 = 5.0000001201e-1f;

  private VectorMath() {}

  /**
   * {@code e^x} lane-wise, relative error about 1e-7 (Cephes {@code expf}: {@code x = k ln2 + r},
   * polynomial in {@code r}, times {@code 2^k}); inputs are clamped to {@code [-87, 88]}, so very
   * negative inputs give about {@code 1.6e-38} instead of a subnormal or zero.
   */
  public static FloatVector exp(FloatVector x) {
    x = x.max(MIN_X).min(MAX_X);
    FloatVector t = x.fma(LOG2E, ROUND); // round(x * log2e) + ROUND, rounded to nearest by the add
    FloatVector k = t.sub(ROUND);
    FloatVector r = k.fma(FloatVector.broadcast(S, -LN2_HI), x);
    r = k.fma(FloatVector.broadcast(S, -LN2_LO), r);
    FloatVector p = r.fma(P0, P1);
    p = p.fma(r, FloatVector.broadcast(S, P2));
    p = p.fma(r, FloatVector.broadcast(S, P3));
    p = p.fma(r, FloatVector.broadcast(S, P4));
    p = p.fma(r, FloatVector.broadcast(S, P5));
    FloatVector y = p.mul(r.mul(r)).add(r).add(1f);
    IntVector ki = t.reinterpretAsInts().sub(Float.floatToRawIntBits(ROUND));
    FloatVector pow2 = ki.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
    return y.mul(pow2);
  }

  /** The scalar twin of {@link #exp(FloatVector)}: the same operations in the same order. */
  public static float exp(float x) {
    x = Math.min(Math.max(x, MIN_X), MAX_X);
    float t = Math.fma(x, LOG2E, ROUND);
    float k = t - ROUND;
    float r = Math.fma(k, -LN2_HI, x);
    r = Math.fma(k, -LN2_LO, r);
    float p = Math.fma(r, P0, P1);
    p = Math.fma(p, r, P2);
    p = Math.fma(p, r, P3);
    p = Math.fma(p, r, P4);
    p = Math.fma(p, r, P5);
    float y = p * (r * r) + r + 1f;
    int ki = Float.floatToRawIntBits(t) - Float.floatToRawIntBits(ROUND);
    return y * Float.intBitsToFloat((ki + 127) << 23);
  }
}
