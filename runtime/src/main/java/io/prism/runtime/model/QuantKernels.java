package io.prism.runtime.model;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vectorised dequantisation of ggml block types with the Vector API ({@code jdk.incubator.vector}):
 * the float species is {@link FloatVector#SPECIES_PREFERRED} ({@code L} lanes: 16 with AVX-512, 8
 * with AVX2) and quants are loaded {@code L} bytes at a time, widened to float lanes. Same contract
 * and the same float operations in the same order as the scalar reference {@link GgmlQuants} (a
 * multiply then a subtract, never a fused multiply-add), so results are bit-identical; {@code
 * QuantKernelsTest} checks it. Stateless and thread-safe.
 */
public final class QuantKernels {
  private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
  private static final int L = F.length();
  /** Bytes loaded per float vector: {@code L} lanes; null when {@code L < 8} (no 32-bit byte shape: scalar fallback). */
  private static final VectorSpecies<Byte> B = L >= 8 ? VectorSpecies.of(byte.class, VectorShape.forBitSize(L * 8)) : null;

  private QuantKernels() {}

  /**
   * As {@link GgmlQuants#dequantize}, vectorised.
   *
   * @throws IllegalArgumentException for an unsupported type or a partial block
   */
  public static void dequantize(GgmlType t, byte[] src, int srcOff, float[] dst, int dstOff, int count) {
    if (!GgmlQuants.supported(t) || B == null) {
      GgmlQuants.dequantize(t, src, srcOff, dst, dstOff, count);
      return;
    }
    if (count % t.blockElements != 0) throw new IllegalArgumentException(count + " values is not a whole number of " + t + " blocks of " + t.blockElements);
    for (int b = 0, n = count / t.blockElements; b < n; b++) {
      int s = srcOff + b * t.blockBytes, o = dstOff + b * t.blockElements;
      switch (t) {
        case Q8_0 -> q8_0(src, s, dst, o);
        case Q4_0 -> q4_0(src, s, dst, o);
        case Q4_K -> q45K(src, s, dst, o, false);
        case Q5_K -> q45K(src, s, dst, o, true);
        default -> q6K(src, s, dst, o);
      }
    }
  }

  private static FloatVector toFloat(ByteVector v) {
    return (FloatVector) v.convertShape(VectorOperators.B2F, F, 0);
  }

  private static ByteVector bytes(byte[] b, int off) {
    return ByteVector.fromArray(B, b, off);
  }

  private static void q8_0(byte[] b, int s, float[] y, int o) {
    float d = GgmlQuants.f16(b, s);
    for (int i = 0; i < 32; i += L) toFloat(bytes(b, s + 2 + i)).mul(d).intoArray(y, o + i);
  }

  private static void q4_0(byte[] b, int s, float[] y, int o) {
    float d = GgmlQuants.f16(b, s);
    for (int j = 0; j < 16; j += L) { // L is 8 or 16: divides 16
      ByteVector q = bytes(b, s + 2 + j);
      toFloat(q.and((byte) 15).sub((byte) 8)).mul(d).intoArray(y, o + j);
      toFloat(q.lanewise(VectorOperators.LSHR, 4).and((byte) 15).sub((byte) 8)).mul(d).intoArray(y, o + j + 16);
    }
  }

  private static void q45K(byte[] b, int s, float[] y, int o, boolean five) {
    float d = GgmlQuants.f16(b, s), dmin = GgmlQuants.f16(b, s + 2);
    int scales = s + 4, qh = s + 16, qs = five ? s + 48 : s + 16;
    for (int j = 0; j < 8; j++) {
      float d1 = d * GgmlQuants.scaleMin(b, scales, j, 0), m1 = dmin * GgmlQuants.scaleMin(b, scales, j, 1);
      int c = j >> 1, shift = (j & 1) * 4;
      for (int l = 0; l < 32; l += L) {
        ByteVector q = bytes(b, qs + 32 * c + l).lanewise(VectorOperators.LSHR, shift).and((byte) 15);
        if (five) q = q.add(bytes(b, qh + l).lanewise(VectorOperators.LSHR, j).and((byte) 1).lanewise(VectorOperators.LSHL, 4));
        toFloat(q).mul(d1).sub(m1).intoArray(y, o + 32 * j + l);
      }
    }
  }

  private static void q6K(byte[] b, int s, float[] y, int o) {
    int ql = s, qh = s + 128, sc = s + 192;
    float d = GgmlQuants.f16(b, s + 208);
    for (int n = 0; n < 2; n++) {
      for (int r = 0; r < 4; r++) {
        for (int l = 0; l < 32; l += L) {
          ByteVector lo = bytes(b, ql + 64 * n + l + 32 * (r & 1)).lanewise(VectorOperators.LSHR, 4 * (r >> 1)).and((byte) 15);
          ByteVector hi = bytes(b, qh + 32 * n + l).lanewise(VectorOperators.LSHR, 2 * r).and((byte) 3);
          ByteVector q = lo.or(hi.lanewise(VectorOperators.LSHL, 4)).sub((byte) 32);
          float d1 = d * b[sc + 8 * n + 2 * r + l / 16]; // L divides 16: one scale per vector
          toFloat(q).mul(d1).intoArray(y, o + 128 * n + 32 * r + l);
        }
      }
    }
  }
}
