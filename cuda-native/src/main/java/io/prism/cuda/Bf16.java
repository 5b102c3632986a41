package io.prism.cuda;

/**
 * bfloat16 conversions on the host (the upper 16 bits of an IEEE float32): round to nearest even,
 * NaN kept quiet. The device side is {@code f2bf}/{@code ld} in {@code kernels/llama.cu}.
 */
public final class Bf16 {
  private Bf16() {}

  /** float32 to bf16 bits, round to nearest even. */
  public static short fromFloat(float f) {
    int u = Float.floatToRawIntBits(f);
    if ((u & 0x7fffffff) > 0x7f800000) return (short) ((u >>> 16) | 0x40);
    u += 0x7fff + ((u >>> 16) & 1);
    return (short) (u >>> 16);
  }

  /** bf16 bits to float32 (exact). */
  public static float toFloat(short b) {
    return Float.intBitsToFloat((b & 0xffff) << 16);
  }

  /** {@code f} rounded to the nearest bf16 value, as float32. */
  public static float round(float f) {
    return toFloat(fromFloat(f));
  }
}
