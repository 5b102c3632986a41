package io.prism.runtime.model;

/**
 * Scalar reference dequantisation of ggml's block-quantised tensor types, the contract that {@link
 * QuantKernels} (vectorised, used by the loader) must match bit for bit, and that {@link
 * GgmlQuantizer} inverts. Values are stored row-major along ggml's {@code ne[0]} in whole blocks.
 *
 * <p>Block layouts, from ggml's published format (the {@code block_q*} structs of ggml's {@code
 * ggml-common.h}, also described by the GGUF specification in the ggml repository). All
 * multi-byte fields are little-endian; {@code f16} is IEEE binary16.
 *
 * <pre>
 * Q8_0  32 values, 34 bytes:  f16 d | int8 q[32]                          x = d * q
 * Q4_0  32 values, 18 bytes:  f16 d | u8 qs[16]                           x[j] = d * ((qs[j] &amp; 15) - 8),
 *                                                                         x[j + 16] = d * ((qs[j] &gt;&gt; 4) - 8)
 * Q4_K 256 values, 144 bytes: f16 d | f16 dmin | u8 scales[12] | u8 qs[128]
 * Q5_K 256 values, 176 bytes: f16 d | f16 dmin | u8 scales[12] | u8 qh[32] | u8 qs[128]
 * Q6_K 256 values, 210 bytes: u8 ql[128] | u8 qh[64] | int8 sc[16] | f16 d      (d last)
 * </pre>
 *
 * <p><b>Q4_K / Q5_K</b>: 8 sub-blocks of 32 values, each with a 6-bit scale {@code sc[j]} and a
 * 6-bit min {@code m[j]} packed in {@code scales[12]}: for {@code j < 4}, {@code sc[j] =
 * scales[j] & 63}, {@code m[j] = scales[j + 4] & 63}; for {@code j >= 4}, {@code sc[j] =
 * (scales[j + 4] & 15) | (scales[j - 4] >> 6) << 4} and {@code m[j] = (scales[j + 4] >> 4) |
 * (scales[j] >> 6) << 4}. Value {@code i = 64c + 32h + l} ({@code c < 4} a 64-value chunk,
 * {@code h} its half, {@code l < 32}) is in sub-block {@code j = 2c + h}; its 4-bit quant is the
 * low ({@code h = 0}) or high ({@code h = 1}) nibble of {@code qs[32c + l]}; Q5_K adds bit {@code j}
 * of {@code qh[l]} as the fifth bit (value 16). Then {@code x = (d * sc[j]) * q - (dmin * m[j])},
 * each product rounded to float32 as ggml computes it.
 *
 * <p><b>Q6_K</b>: 16 sub-blocks of 16 values with int8 scales. Value {@code i = 128n + 32r + l}
 * ({@code n < 2}, {@code r < 4}, {@code l < 32}) takes its low 4 bits from {@code ql[64n + l + 32
 * (r & 1)]} (low nibble for {@code r < 2}, high nibble otherwise) and its high 2 bits from bits
 * {@code 2r, 2r+1} of {@code qh[32n + l]}; {@code q} is that 6-bit value minus 32 and {@code x =
 * (d * sc[8n + 2r + l / 16]) * q}.
 *
 * <p>Stateless and thread-safe.
 */
public final class GgmlQuants {
  private GgmlQuants() {}

  /** Whether {@code t} is a block type these methods decode ({@link GgmlType#Q8_0}, Q4_0, Q4_K, Q5_K, Q6_K). */
  public static boolean supported(GgmlType t) {
    return t == GgmlType.Q8_0 || t == GgmlType.Q4_0 || t == GgmlType.Q4_K || t == GgmlType.Q5_K || t == GgmlType.Q6_K;
  }

  /**
   * Decodes {@code count} values ({@code count} a multiple of {@code t.blockElements}) of type
   * {@code t} from {@code src[srcOff ...]} into {@code dst[dstOff, dstOff + count)}.
   *
   * @throws IllegalArgumentException for a type that is not {@link #supported} or a partial block
   */
  public static void dequantize(GgmlType t, byte[] src, int srcOff, float[] dst, int dstOff, int count) {
    if (!supported(t)) throw new IllegalArgumentException("no dequantisation for " + t);
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

  static float f16(byte[] b, int off) {
    return MappedFile.halfToFloat((b[off] & 0xFF) | (b[off + 1] & 0xFF) << 8);
  }

  private static void q8_0(byte[] b, int s, float[] y, int o) {
    float d = f16(b, s);
    for (int i = 0; i < 32; i++) y[o + i] = d * b[s + 2 + i];
  }

  private static void q4_0(byte[] b, int s, float[] y, int o) {
    float d = f16(b, s);
    for (int j = 0; j < 16; j++) {
      int q = b[s + 2 + j] & 0xFF;
      y[o + j] = d * ((q & 15) - 8);
      y[o + j + 16] = d * ((q >> 4) - 8);
    }
  }

  /** The 6-bit scale ({@code which = 0}) or min ({@code which = 1}) of sub-block {@code j} from {@code scales[12]} at {@code p}. */
  static int scaleMin(byte[] b, int p, int j, int which) {
    if (j < 4) return b[p + j + 4 * which] & 63;
    int lo = which == 0 ? b[p + j + 4] & 15 : (b[p + j + 4] & 0xFF) >> 4;
    int hi = (b[p + j - 4 * (1 - which)] & 0xFF) >> 6;
    return lo | hi << 4;
  }

  private static void q45K(byte[] b, int s, float[] y, int o, boolean five) {
    float d = f16(b, s), dmin = f16(b, s + 2);
    int scales = s + 4, qh = s + 16, qs = five ? s + 48 : s + 16;
    for (int j = 0; j < 8; j++) {
      float d1 = d * scaleMin(b, scales, j, 0), m1 = dmin * scaleMin(b, scales, j, 1);
      int c = j >> 1, shift = (j & 1) * 4;
      for (int l = 0; l < 32; l++) {
        int q = ((b[qs + 32 * c + l] & 0xFF) >> shift) & 15;
        if (five && ((b[qh + l] >> j) & 1) != 0) q += 16;
        y[o + 32 * j + l] = d1 * q - m1;
      }
    }
  }

  private static void q6K(byte[] b, int s, float[] y, int o) {
    int ql = s, qh = s + 128, sc = s + 192;
    float d = f16(b, s + 208);
    for (int n = 0; n < 2; n++) {
      for (int r = 0; r < 4; r++) {
        for (int l = 0; l < 32; l++) {
          int lo = ((b[ql + 64 * n + l + 32 * (r & 1)] & 0xFF) >> (4 * (r >> 1))) & 15;
          int hi = ((b[qh + 32 * n + l] & 0xFF) >> (2 * r)) & 3;
          int q = (lo | hi << 4) - 32;
          y[o + 128 * n + 32 * r + l] = (d * b[sc + 8 * n + 2 * r + l / 16]) * q;
        }
      }
    }
  }
}
