package io.prism.cuda;

import io.prism.runtime.model.GgmlType;

/**
 * Launches the dequantising GEMVs of {@code quant.cu}: {@code Y[t, r] (+)= sum_c W[r, c] X[t, c]}
 * with {@code W} in a ggml block type ({@link DeviceWeights#DEVICE_TYPES}), {@code X} {@code [T,
 * cols]} in the precision's element type, {@code Y} float32 with row stride {@code ldy} elements.
 * Steps of more than {@link #MAX_T} tokens run in chunks of {@link #MAX_T}: each chunk reads the
 * whole matrix again, so prefill with quantized weights costs {@code ceil(T / 8)} weight passes
 * (decode batches up to 8 read the weights once). Threading: device thread only.
 */
final class QuantGemv {
  /** Tokens per launch (QG_MAX_T in quant.cu). */
  static final int MAX_T = 8;
  /** Output rows per block of 128 threads (QG_ROWS in quant.cu). */
  static final int ROWS_PER_BLOCK = 4;

  private QuantGemv() {}

  /** The kernel for block type {@code t} and activations of precision {@code p}, e.g. {@code qgemv_q4k_bf16}. */
  static String kernel(GgmlType t, Precision p) {
    String ty = switch (t) {
      case Q4_K -> "q4k";
      case Q6_K -> "q6k";
      case Q8_0 -> "q8_0";
      default -> throw new IllegalArgumentException(t + " has no device GEMV; device types are " + DeviceWeights.DEVICE_TYPES);
    };
    return "qgemv_" + ty + "_" + p.suffix();
  }

  /**
   * @param x device address of {@code X[0, 0]}
   * @param y device address of {@code Y[0, 0]} (a column offset into a wider row is allowed)
   * @param accumulate add to {@code Y} instead of overwriting it
   * @param dependent launch with programmatic dependent launch (the kernels wait for their inputs)
   */
  static void run(CudaContext ctx, boolean dependent, GgmlType t, Precision p, long w, long x, long y, int rows, int cols, int tokens, long ldy,
      boolean accumulate) {
    String k = kernel(t, p);
    int grid = (rows + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK;
    for (int t0 = 0; t0 < tokens; t0 += MAX_T) {
      int n = Math.min(MAX_T, tokens - t0);
      ctx.kernels.args().dependent(dependent).ptr(w).ptr(x + (long) t0 * cols * p.elementBytes).ptr(y + (long) t0 * ldy * 4).i32(rows).i32(cols)
          .i32(n).i64(ldy).i32(accumulate ? 1 : 0).go(k, ctx.stream, grid, 1, 1, 32 * ROWS_PER_BLOCK, 0);
    }
  }
}
