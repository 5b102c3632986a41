package io.prism.cuda;

import io.prism.runtime.model.GgmlType;

/**
 * Launches the kernels of {@code quant.cu} for weights in a ggml block type ({@link
 * DeviceWeights#DEVICE_TYPES}): the dequantising GEMVs {@code Y[t, r] (+)= sum_c W[r, c] X[t, c]}
 * ({@code X} {@code [T, cols]} in the precision's element type, {@code Y} float32 with row stride
 * {@code ldy} elements; more than {@link #MAX_T} tokens run in chunks of {@link #MAX_T}, each a
 * full pass over the weights), and the dequantisation of blocks into a dense matrix, which {@link
 * ForwardKernels} uses for steps of {@link #denseMinTokens()} tokens or more (one dequantisation
 * plus one cuBLAS GEMM instead of {@code ceil(T / 8)} weight passes). Threading: device thread only.
 */
final class QuantGemv {
  /** Tokens per launch (QG_MAX_T in quant.cu). */
  static final int MAX_T = 8;
  /** Warps per block of 128 threads (QG_ROWS in quant.cu). */
  static final int WARPS_PER_BLOCK = 4;
  /** Output rows per warp of the Q4_K / Q6_K GEMVs (QG_R in quant.cu; Q8_0: one). */
  static final int K_ROWS_PER_WARP = 2;

  private QuantGemv() {}

  /**
   * Steps of at least this many tokens dequantise each matrix into the dense scratch and use cuBLAS
   * (property {@code prism.cuda.quant-dense-min-tokens}, default 17: up to 16 tokens the GEMVs read
   * the blocks at most twice, less traffic than writing and reading a dense copy).
   */
  static int denseMinTokens() {
    return Math.max(1, Integer.getInteger("prism.cuda.quant-dense-min-tokens", 17));
  }

  /** The dequantisation kernel of block type {@code t} into elements of precision {@code p}, e.g. {@code dequant_q4k_bf16}. */
  static String dequantKernel(GgmlType t, Precision p) {
    return kernel(t, p).replace("qgemv_", "dequant_");
  }

  /** Writes the {@code n} values of blocks {@code w} (type {@code t}) densely at {@code out} in precision {@code p}. */
  static void dequantize(CudaContext ctx, boolean dependent, GgmlType t, Precision p, long w, long out, long n) {
    long blocks = n / t.blockElements;
    long threads = blocks * (t.blockElements == 256 ? 32 : 4);
    int grid = (int) Math.min(65535, (threads + 255) / 256);
    ctx.kernels.args().dependent(dependent).ptr(w).ptr(out).i64(blocks).go(dequantKernel(t, p), ctx.stream, grid, 1, 1, 256, 0);
  }

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
    int rowsPerBlock = WARPS_PER_BLOCK * (t == GgmlType.Q8_0 ? 1 : K_ROWS_PER_WARP);
    int grid = (rows + rowsPerBlock - 1) / rowsPerBlock;
    for (int t0 = 0; t0 < tokens; t0 += MAX_T) {
      int n = Math.min(MAX_T, tokens - t0);
      // one token: the Q4_K / Q6_K kernels unrolled for it (qgemv_*_t1: fewer registers, more warps per SM)
      String kn = n == 1 && t != GgmlType.Q8_0 ? k + "_t1" : k;
      ctx.kernels.args().dependent(dependent).ptr(w).ptr(x + (long) t0 * cols * p.elementBytes).ptr(y + (long) t0 * ldy * 4).i32(rows).i32(cols)
          .i32(n).i64(ldy).i32(accumulate ? 1 : 0).go(kn, ctx.stream, grid, 1, 1, 32 * WARPS_PER_BLOCK, 0);
    }
  }
}
