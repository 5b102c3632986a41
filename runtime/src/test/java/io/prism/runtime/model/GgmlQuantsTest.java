package io.prism.runtime.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * ggml block dequantisation: blocks built byte by byte from the published layouts (ggml's {@code
 * ggml-common.h}) with known values decode exactly, in the scalar reference ({@link GgmlQuants}) and
 * the vectorised kernel ({@link QuantKernels}); both agree bit for bit on random blocks; and random
 * data round-trips through {@link GgmlQuantizer} within half a quantisation step.
 */
class GgmlQuantsTest {
  private static final float D = 0.5f, DMIN = 0.25f; // binary16 0x3800, 0x3400: exact
  private static final int[] SC = {1, 2, 3, 4, 17, 33, 50, 63}; // 6-bit scales; >= 16 exercise the high bits
  private static final int[] MN = {0, 1, 5, 9, 16, 31, 40, 63};

  private static void half(byte[] b, int off, int bits) {
    b[off] = (byte) bits;
    b[off + 1] = (byte) (bits >> 8);
  }

  /** Writes scales[12] for Q4_K/Q5_K from 8 scales and 8 mins, straight from the bit layout. */
  private static void packScales(byte[] b, int p) {
    for (int j = 0; j < 4; j++) {
      b[p + j] = (byte) ((SC[j] & 63) | ((SC[j + 4] >> 4) & 3) << 6);
      b[p + 4 + j] = (byte) ((MN[j] & 63) | ((MN[j + 4] >> 4) & 3) << 6);
      b[p + 8 + j] = (byte) ((SC[j + 4] & 15) | (MN[j + 4] & 15) << 4);
    }
  }

  private static void checkBoth(GgmlType t, byte[] block, float[] expected) {
    float[] scalar = new float[expected.length], vector = new float[expected.length];
    GgmlQuants.dequantize(t, block, 0, scalar, 0, expected.length);
    QuantKernels.dequantize(t, block, 0, vector, 0, expected.length);
    assertArrayEquals(expected, scalar, 0f, t + " scalar");
    assertArrayEquals(expected, vector, 0f, t + " vector");
  }

  @Test
  void q4KBlockOfKnownValuesDecodesExactly() {
    byte[] b = new byte[144];
    half(b, 0, 0x3800);
    half(b, 2, 0x3400);
    packScales(b, 4);
    float[] want = new float[256];
    for (int i = 0; i < 256; i++) {
      int c = i / 64, h = (i / 32) % 2, l = i % 32, j = i / 32, q = (i * 7 + 3) % 16;
      b[16 + 32 * c + l] |= (byte) (q << (4 * h));
      want[i] = (D * SC[j]) * q - DMIN * MN[j];
    }
    assertEquals((D * 63) * ((255 * 7 + 3) % 16) - DMIN * 63, want[255]); // last sub-block: scale 63, min 63
    checkBoth(GgmlType.Q4_K, b, want);
  }

  @Test
  void q5KBlockOfKnownValuesDecodesExactly() {
    byte[] b = new byte[176];
    half(b, 0, 0x3800);
    half(b, 2, 0x3400);
    packScales(b, 4);
    float[] want = new float[256];
    for (int i = 0; i < 256; i++) {
      int c = i / 64, h = (i / 32) % 2, l = i % 32, j = i / 32, q = (i * 11 + 5) % 32;
      b[48 + 32 * c + l] |= (byte) ((q & 15) << (4 * h));
      if (q >= 16) b[16 + l] |= (byte) (1 << j);
      want[i] = (D * SC[j]) * q - DMIN * MN[j];
    }
    checkBoth(GgmlType.Q5_K, b, want);
  }

  @Test
  void q6KBlockOfKnownValuesDecodesExactly() {
    byte[] b = new byte[210];
    int[] sc = new int[16];
    for (int k = 0; k < 16; k++) {
      sc[k] = (k - 8) * 15; // negative and positive int8 scales, up to -120
      b[192 + k] = (byte) sc[k];
    }
    half(b, 208, 0x3000); // d = 0.125
    float[] want = new float[256];
    for (int i = 0; i < 256; i++) {
      int n = i / 128, r = (i % 128) / 32, l = i % 32, q6 = (i * 13 + 7) % 64;
      b[64 * n + l + 32 * (r & 1)] |= (byte) ((q6 & 15) << (4 * (r / 2)));
      b[128 + 32 * n + l] |= (byte) ((q6 >> 4) << (2 * r));
      want[i] = (0.125f * sc[8 * n + 2 * r + l / 16]) * (q6 - 32);
    }
    checkBoth(GgmlType.Q6_K, b, want);
  }

  @Test
  void q4_0AndQ8_0BlocksOfKnownValuesDecodeExactly() {
    byte[] b = new byte[18];
    half(b, 0, 0xC000); // d = -2
    float[] want = new float[32];
    for (int j = 0; j < 16; j++) {
      int lo = j, hi = 15 - j;
      b[2 + j] = (byte) (lo | hi << 4);
      want[j] = -2f * (lo - 8);
      want[j + 16] = -2f * (hi - 8);
    }
    checkBoth(GgmlType.Q4_0, b, want);
    byte[] q8 = new byte[34];
    half(q8, 0, 0x3C00); // d = 1
    float[] w8 = new float[32];
    for (int i = 0; i < 32; i++) {
      q8[2 + i] = (byte) (i * 9 - 128);
      w8[i] = (byte) (i * 9 - 128);
    }
    checkBoth(GgmlType.Q8_0, q8, w8);
  }

  @ParameterizedTest
  @EnumSource(names = {"Q8_0", "Q4_0", "Q4_K", "Q5_K", "Q6_K"})
  void vectorKernelEqualsScalarReferenceOnRandomBlocks(GgmlType t) {
    SplittableRandom r = new SplittableRandom(t.id);
    int blocks = 64;
    byte[] b = new byte[blocks * t.blockBytes];
    for (int i = 0; i < b.length; i++) b[i] = (byte) r.nextInt(256);
    for (int k = 0; k < blocks; k++) { // finite binary16 scales (exponent field below 31)
      int base = k * t.blockBytes;
      int[] halves = t == GgmlType.Q6_K ? new int[] {208} : t.blockElements == 256 ? new int[] {0, 2} : new int[] {0};
      for (int h : halves) b[base + h + 1] &= (byte) 0x7B;
    }
    int n = blocks * t.blockElements;
    float[] scalar = new float[n + 3], vector = new float[n + 3];
    GgmlQuants.dequantize(t, b, 0, scalar, 3, n);
    QuantKernels.dequantize(t, b, 0, vector, 3, n);
    assertArrayEquals(scalar, vector, 0f);
  }

  @ParameterizedTest
  @EnumSource(names = {"Q8_0", "Q4_0", "Q4_K", "Q5_K", "Q6_K"})
  void randomDataRoundTripsWithinHalfAStep(GgmlType t) {
    SplittableRandom r = new SplittableRandom(42 + t.id);
    int n = 8 * 256;
    float[] x = new float[n];
    for (int i = 0; i < n; i++) x[i] = (float) (r.nextGaussian() * (i % 256 < 128 ? 0.02 : 1.5) + (i % 512 < 256 ? 0 : 0.3));
    byte[] q = GgmlQuantizer.quantize(t, x, 0, n);
    assertEquals(t.bytesFor(n), q.length);
    float[] y = new float[n];
    QuantKernels.dequantize(t, q, 0, y, 0, n);
    double err2 = 0, sig2 = 0;
    for (int i = 0; i < n; i++) {
      float step = step(t, q, i);
      assertTrue(Math.abs(x[i] - y[i]) <= step / 2 * 1.001f + 1e-6f, t + " value " + i + ": " + x[i] + " -> " + y[i] + ", step " + step);
      err2 += (x[i] - y[i]) * (double) (x[i] - y[i]);
      sig2 += x[i] * (double) x[i];
    }
    double rel = Math.sqrt(err2 / sig2);
    double bound = switch (t) {
      case Q8_0 -> 0.01;
      case Q6_K -> 0.03;
      case Q5_K -> 0.06;
      default -> 0.15;
    };
    assertTrue(rel < bound, t + " relative RMS error " + rel);
  }

  /** The quantisation step of value {@code i} read back from the block's scales. */
  private static float step(GgmlType t, byte[] q, int i) {
    int blk = i / t.blockElements, o = blk * t.blockBytes, k = i % t.blockElements;
    return switch (t) {
      case Q8_0, Q4_0 -> Math.abs(GgmlQuants.f16(q, o));
      case Q4_K, Q5_K -> GgmlQuants.f16(q, o) * GgmlQuants.scaleMin(q, o + 4, k / 32, 0);
      default -> Math.abs(GgmlQuants.f16(q, o + 208) * q[o + 192 + k / 16]);
    };
  }

  @Test
  void floatToHalfRoundsAndKeepsExactValues() {
    assertEquals(0x3C00, GgmlQuantizer.floatToHalf(1f));
    assertEquals(0xC000, GgmlQuantizer.floatToHalf(-2f));
    assertEquals(0x3555, GgmlQuantizer.floatToHalf(1f / 3));
    assertEquals(0x0001, GgmlQuantizer.floatToHalf(0x1p-24f));
    assertEquals(0x7BFF, GgmlQuantizer.floatToHalf(65504f));
    for (int h = 0; h < 0x7C00; h += 7) assertEquals(h, GgmlQuantizer.floatToHalf(MappedFile.halfToFloat(h)), "half " + h);
  }

  @Test
  void partialBlocksAndUnsupportedTypesAreRejected() {
    assertThrows(IllegalArgumentException.class, () -> GgmlQuants.dequantize(GgmlType.Q4_K, new byte[144], 0, new float[128], 0, 128));
    assertThrows(IllegalArgumentException.class, () -> QuantKernels.dequantize(GgmlType.Q2_K, new byte[84], 0, new float[256], 0, 256));
    assertThrows(IllegalArgumentException.class, () -> GgmlQuantizer.quantize(GgmlType.IQ4_XS, new float[256], 0, 256));
  }
}
