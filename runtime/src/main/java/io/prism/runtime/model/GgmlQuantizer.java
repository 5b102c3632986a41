package io.prism.runtime.model;

/**
 * A simple quantiser into ggml's block formats (layouts in {@link GgmlQuants}), so tests and random
 * models can make quantized tensors. It picks scales from each block's range in one pass (no search
 * for the error-minimising scales that llama.cpp's quantiser runs), and guarantees that every value
 * lies within the range its scales cover, so the error of each value is at most half a step of its
 * (sub-)block: {@code |x - dequant(x)| <= step / 2} with {@code step = d} (Q8_0, Q4_0), {@code d *
 * sc[j]} (Q4_K, Q5_K, Q6_K), up to float32 rounding. Stateless and thread-safe.
 */
public final class GgmlQuantizer {
  private GgmlQuantizer() {}

  /**
   * Quantizes {@code count} values ({@code count} a multiple of the block size) of {@code src} from
   * {@code srcOff} into a new array of {@code t.bytesFor(count)} bytes.
   *
   * @throws IllegalArgumentException for an unsupported type or a partial block
   */
  public static byte[] quantize(GgmlType t, float[] src, int srcOff, int count) {
    if (!GgmlQuants.supported(t)) throw new IllegalArgumentException("no quantiser for " + t);
    if (count % t.blockElements != 0) throw new IllegalArgumentException(count + " values is not a whole number of " + t + " blocks of " + t.blockElements);
    byte[] out = new byte[(int) t.bytesFor(count)];
    for (int b = 0, n = count / t.blockElements; b < n; b++) {
      int x = srcOff + b * t.blockElements, o = b * t.blockBytes;
      switch (t) {
        case Q8_0 -> q8_0(src, x, out, o);
        case Q4_0 -> q4_0(src, x, out, o);
        case Q4_K -> q45K(src, x, out, o, false);
        case Q5_K -> q45K(src, x, out, o, true);
        default -> q6K(src, x, out, o);
      }
    }
    return out;
  }

  /** Float32 to IEEE binary16 bits, rounded to nearest (ties away from zero); 65520 and above saturate to infinity. */
  public static int floatToHalf(float f) {
    int bits = Float.floatToRawIntBits(f);
    int sign = (bits >>> 16) & 0x8000;
    float a = Math.abs(f);
    if (a >= 65520f) return sign | 0x7c00;
    if (a < 0x1p-14f) return sign | Math.round(a * 0x1p24f); // subnormal: units of 2^-24
    int e = Math.getExponent(a);
    int m = Math.round(a * (float) Math.pow(2, 10 - e)) - 1024; // 10-bit mantissa, may round up to 1024
    if (m == 1024) {
      m = 0;
      e++;
    }
    return sign | (e + 15) << 10 | m;
  }

  /** The float32 value of {@code f} rounded to binary16. */
  static float half(float f) {
    return MappedFile.halfToFloat(floatToHalf(f));
  }

  private static void putHalf(byte[] b, int off, float v) {
    int h = floatToHalf(v);
    b[off] = (byte) h;
    b[off + 1] = (byte) (h >> 8);
  }

  private static float absMax(float[] x, int off, int n) {
    float m = 0;
    for (int i = 0; i < n; i++) m = Math.max(m, Math.abs(x[off + i]));
    return m;
  }

  private static int clamp(int v, int lo, int hi) {
    return Math.max(lo, Math.min(hi, v));
  }

  private static void q8_0(float[] x, int s, byte[] b, int o) {
    float d = half(absMax(x, s, 32) / 127f);
    putHalf(b, o, d);
    for (int i = 0; i < 32; i++) b[o + 2 + i] = (byte) (d == 0 ? 0 : clamp(Math.round(x[s + i] / d), -127, 127));
  }

  private static void q4_0(float[] x, int s, byte[] b, int o) {
    float d = half(absMax(x, s, 32) / 7f);
    putHalf(b, o, d);
    for (int j = 0; j < 16; j++) {
      int lo = d == 0 ? 8 : clamp(Math.round(x[s + j] / d) + 8, 0, 15);
      int hi = d == 0 ? 8 : clamp(Math.round(x[s + j + 16] / d) + 8, 0, 15);
      b[o + 2 + j] = (byte) (lo | hi << 4);
    }
  }

  private static void q45K(float[] x, int s, byte[] b, int o, boolean five) {
    int levels = five ? 31 : 15;
    float[] lo = new float[8], hi = new float[8];
    float maxNegMin = 0;
    for (int j = 0; j < 8; j++) {
      float mn = 0, mx = 0; // the offset -dmin * m is <= 0, so the covered range always includes 0
      for (int l = 0; l < 32; l++) {
        mn = Math.min(mn, x[s + 32 * j + l]);
        mx = Math.max(mx, x[s + 32 * j + l]);
      }
      lo[j] = mn;
      hi[j] = mx;
      maxNegMin = Math.max(maxNegMin, -mn);
    }
    // mins: m[j] = ceil(-lo / dmin) so that -dmin * m[j] <= lo[j]
    float dmin = half(maxNegMin / 63f * 1.001f);
    int[] m = new int[8], sc = new int[8];
    float[] range = new float[8];
    float maxRange = 0;
    for (int j = 0; j < 8; j++) {
      m[j] = dmin == 0 ? 0 : clamp((int) Math.ceil(-lo[j] / dmin), 0, 63);
      range[j] = hi[j] + dmin * m[j];
      maxRange = Math.max(maxRange, range[j]);
    }
    float d = half(maxRange / (levels * 63f) * 1.001f);
    for (int j = 0; j < 8; j++) sc[j] = d == 0 ? 0 : clamp((int) Math.ceil(range[j] / (levels * d)), 0, 63);
    putHalf(b, o, d);
    putHalf(b, o + 2, dmin);
    int scales = o + 4;
    for (int j = 0; j < 4; j++) {
      b[scales + j] = (byte) (sc[j] | (sc[j + 4] >> 4) << 6);
      b[scales + j + 4] = (byte) (m[j] | (m[j + 4] >> 4) << 6);
      b[scales + j + 8] = (byte) ((sc[j + 4] & 15) | (m[j + 4] & 15) << 4);
    }
    int qh = o + 16, qs = five ? o + 48 : o + 16;
    for (int j = 0; j < 8; j++) {
      float d1 = d * sc[j], m1 = dmin * m[j];
      int c = j >> 1, shift = (j & 1) * 4;
      for (int l = 0; l < 32; l++) {
        int q = d1 == 0 ? 0 : clamp(Math.round((x[s + 32 * j + l] + m1) / d1), 0, levels);
        b[qs + 32 * c + l] |= (byte) ((q & 15) << shift);
        if (five && q > 15) b[qh + l] |= (byte) (1 << j);
      }
    }
  }

  private static void q6K(float[] x, int s, byte[] b, int o) {
    float[] amax = new float[16];
    float top = 0;
    for (int k = 0; k < 16; k++) {
      amax[k] = absMax(x, s + 16 * k, 16);
      top = Math.max(top, amax[k]);
    }
    float d = half(top / (31f * 127f) * 1.001f);
    int[] sc = new int[16];
    for (int k = 0; k < 16; k++) {
      sc[k] = d == 0 ? 0 : clamp((int) Math.ceil(amax[k] / (31f * d)), 0, 127);
      b[o + 192 + k] = (byte) sc[k];
    }
    putHalf(b, o + 208, d);
    int ql = o, qh = o + 128;
    for (int n = 0; n < 2; n++) {
      for (int r = 0; r < 4; r++) {
        for (int l = 0; l < 32; l++) {
          int i = 128 * n + 32 * r + l;
          float step = d * sc[8 * n + 2 * r + l / 16];
          int q = (step == 0 ? 0 : clamp(Math.round(x[s + i] / step), -32, 31)) + 32;
          b[ql + 64 * n + l + 32 * (r & 1)] |= (byte) ((q & 15) << (4 * (r >> 1)));
          b[qh + 32 * n + l] |= (byte) ((q >> 4) << (2 * r));
        }
      }
    }
  }
}
