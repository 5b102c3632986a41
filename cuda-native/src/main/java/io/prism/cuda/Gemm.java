package io.prism.cuda;

import static io.prism.cuda.CudaCheck.checkBlas;

import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.FloatPointer;

/**
 * {@code Y[T, out] = X[T, in] W[out, in]^T + beta * Y} through {@code cublasGemmEx}, all row-major
 * as the forward pass stores them. In cuBLAS's column-major terms that is {@code Y^T = W^T(op T) X^T}:
 * {@code m = out, n = T, k = in}, {@code lda = ldb = in}, {@code ldc = out}.
 *
 * <p>W and X are bf16 with float32 accumulation ({@code CUBLAS_COMPUTE_32F}) or float32 without
 * TF32 ({@code CUBLAS_COMPUTE_32F_PEDANTIC}); Y is always float32, so {@code beta = 1} adds the
 * product into the float32 residual stream (the residual add of the attention and FFN outputs).
 *
 * <p>For 1 to {@link #GEMV_MAX_T} tokens in bf16 the {@code gemv_bf16} kernel (one warp per output
 * row) is used instead of cuBLAS: decode GEMMs are weight-streaming and a warp per row keeps more
 * loads in flight than a GEMM tile with a mostly empty N dimension.
 *
 * <p>Threading: device thread only; the scalars live in native memory owned by this object.
 */
final class Gemm implements AutoCloseable {
  private final CudaContext ctx;
  private final int inType;
  private final int compute;
  private final FloatPointer one = new FloatPointer(1f);
  private final FloatPointer zero = new FloatPointer(0f);
  private final boolean bf16;
  /** Use the gemv_bf16 kernel for 1..GEMV_MAX_T tokens (property {@code prism.cuda.gemv}, default true). */
  boolean skinnyKernel = Boolean.parseBoolean(System.getProperty("prism.cuda.gemv", "true"));
  /** Tokens up to which the skinny kernel is used (GEMV_MAX_T in llama.cu). */
  static final int GEMV_MAX_T = 8;

  Gemm(CudaContext ctx, Precision p) {
    this.ctx = ctx;
    this.inType = p == Precision.BF16 ? cudart.CUDA_R_16BF : cudart.CUDA_R_32F;
    this.compute = p == Precision.BF16 ? cublas.CUBLAS_COMPUTE_32F : cublas.CUBLAS_COMPUTE_32F_PEDANTIC;
    this.bf16 = p == Precision.BF16;
    useLt(Boolean.parseBoolean(System.getProperty("prism.cuda.lt", "true")));
  }

  /** Queues {@code y = x w^T (+ y when beta == 1)} on the device's stream. */
  void run(long wPtr, long xPtr, long yPtr, int out, int in, int tokens, float beta) {
    if (tokens == 0) return;
    if (bf16 && skinnyKernel && tokens == 1 && in % 8 == 0) {
      ctx.kernels.args().ptr(wPtr).ptr(xPtr).ptr(yPtr).i32(out).i32(in).i32(beta == 0f ? 0 : 1)
          .go("gemv_bf16_" + tokens, ctx.stream, (out + 7) / 8, 1, 1, 256, 0);
      return;
    }
    ctx.kernels.foreign();
    if (lt != null && tokens > 1 && tokens <= GemmLt.MAX_TOKENS && Integer.bitCount(tokens) == 1) {
      if (!lt.tuned(out, in, tokens) && !capturing) lt.tune(wPtr, xPtr, out, in, tokens);
      if (lt.tuned(out, in, tokens)) {
        lt.run(wPtr, xPtr, yPtr, out, in, tokens, beta);
        return;
      }
    }
    checkBlas("cublasGemmEx(" + out + "x" + in + " x " + tokens + ")", cublas.cublasGemmEx(ctx.blas, cublas.CUBLAS_OP_T, cublas.CUBLAS_OP_N,
        out, tokens, in, one, new DevicePointer(wPtr), inType, in, new DevicePointer(xPtr), inType, in,
        beta == 0f ? zero : one, new DevicePointer(yPtr), cudart.CUDA_R_32F, out, compute, cublas.CUBLAS_GEMM_DEFAULT));
  }

  // ---- fused single-token GEMVs (gemv1_* in llama.cu): bf16 only, one warp per unit of rows ----

  /** Warps per multiprocessor the fused GEMVs aim for (property {@code prism.cuda.gemv-warps-per-sm}, default 16). */
  int gemvWarpsPerSm = Integer.getInteger("prism.cuda.gemv-warps-per-sm", 16);
  /** Threads and warps of a fused GEMV block (GV_THREADS, GV_WARPS in llama.cu). */
  static final int GV_THREADS = 256, GV_WARPS = 8;
  /** Largest input width of the fused GEMVs whose RMSNorm'd input sits in shared memory (float32, 48 KiB). */
  static final int GV_MAX_RMS_IN = 12 * 1024;

  /** Whether the fused single-token path applies to a model of these widths (bf16, 16-byte rows, norm input fits). */
  boolean fusedApplies(int dim, int hidden, int headDim) {
    return bf16 && skinnyKernel && dim % 8 == 0 && hidden % 8 == 0 && headDim % 2 == 0 && dim <= GV_MAX_RMS_IN;
  }

  /** Units per warp for {@code units} units: enough warps to fill the GPU, each with a contiguous run. */
  private int unitsPerWarp(int units) {
    long warps = (long) gemvWarpsPerSm * ctx.multiprocessors;
    return (int) Math.max(1, (units + warps - 1) / warps);
  }

  private int blocks(int units, int upw) {
    return (int) (((long) units + (long) upw * GV_WARPS - 1) / ((long) upw * GV_WARPS));
  }

  /**
   * Two rows per warp (gemv2_*) for the single-row GEMVs when {@code out} is even (property {@code
   * prism.cuda.gemv-pairs}, default true): 8 loads per row in flight and whole load rounds for
   * in = 14336; the sums are the same per row.
   */
  boolean gemvPairs = Boolean.parseBoolean(System.getProperty("prism.cuda.gemv-pairs", "true"));

  /** {@code y[r] += w[r, :] . x} for one bf16 token row {@code x}: the wo and w2 GEMVs with the residual add. */
  void gemv1Acc(long wPtr, long xPtr, long yPtr, int out, int in) {
    if (gemvPairs && out % 2 == 0) {
      int upw = unitsPerWarp(out / 2);
      ctx.kernels.args().dependent(true).ptr(wPtr).ptr(xPtr).i32(out).i32(in).i32(upw).ptr(yPtr)
          .go("gemv2_acc", ctx.stream, blocks(out / 2, upw), 1, 1, GV_THREADS, 0);
      return;
    }
    int upw = unitsPerWarp(out);
    ctx.kernels.args().dependent(true).ptr(wPtr).ptr(xPtr).i32(out).i32(in).i32(upw).ptr(yPtr)
        .go("gemv1_acc", ctx.stream, blocks(out, upw), 1, 1, GV_THREADS, 0);
  }

  /** {@code y[r] = w[r, :] . bf16(rmsnorm(x[xrow[0]]) * g)}: the classifier of one row, norm included. */
  void gemv1RmsStore(long wPtr, long xPtr, long gPtr, long xRowPtr, float eps, long yPtr, int out, int in) {
    if (gemvPairs && out % 2 == 0) {
      int upw = unitsPerWarp(out / 2);
      ctx.kernels.args().dependent(true).ptr(wPtr).ptr(xPtr).ptr(gPtr).ptr(xRowPtr).f32(eps).i32(out).i32(in).i32(upw).ptr(yPtr)
          .go("gemv2_rms_store", ctx.stream, blocks(out / 2, upw), 1, 1, GV_THREADS, 4 * in);
      return;
    }
    int upw = unitsPerWarp(out);
    ctx.kernels.args().dependent(true).ptr(wPtr).ptr(xPtr).ptr(gPtr).ptr(xRowPtr).f32(eps).i32(out).i32(in).i32(upw).ptr(yPtr)
        .go("gemv1_rms_store", ctx.stream, blocks(out, upw), 1, 1, GV_THREADS, 4 * in);
  }

  /** {@code h[i] = bf16(silu(w1_i . xh) * (w3_i . xh))}, {@code xh = bf16(rmsnorm(x) * g)}: norm, w13 and SwiGLU in one kernel. */
  void gemv1RmsSwiglu(long w13Ptr, long xPtr, long gPtr, float eps, long hPtr, int hidden, int in) {
    int upw = unitsPerWarp(hidden);
    ctx.kernels.args().dependent(true).ptr(w13Ptr).ptr(xPtr).ptr(gPtr).f32(eps).i32(hidden).i32(in).i32(upw).ptr(hPtr)
        .go("gemv1_rms_swiglu", ctx.stream, blocks(hidden, upw), 1, 1, GV_THREADS, 4 * in);
  }

  /**
   * {@code qkv = wqkv . bf16(rmsnorm(x) * g)} with RoPE at {@code pos[0]} and k, v written to their
   * bf16 cache slots at byte offset {@code kvOff[0]} (+ head * {@code headStride}) of the layer's K
   * and V ranges: norm, GEMV, RoPE and KV write in one kernel.
   */
  void gemv1RmsQkvRope(long wPtr, long xPtr, long gPtr, float eps, long qkvPtr, long posPtr, long kvOffPtr, long invFreqPtr,
      long kBase, long vBase, int dim, int kvDim, int headDim, long headStride) {
    int units = (dim + 2 * kvDim) / 2;
    int upw = unitsPerWarp(units);
    ctx.kernels.args().dependent(true).ptr(wPtr).ptr(xPtr).ptr(gPtr).f32(eps).i32(dim).i32(upw).ptr(qkvPtr).ptr(posPtr).ptr(kvOffPtr)
        .ptr(invFreqPtr).ptr(kBase).ptr(vBase).i32(dim).i32(kvDim).i32(headDim).i64(headStride)
        .go("gemv1_rms_qkv_rope", ctx.stream, blocks(units, upw), 1, 1, GV_THREADS, 4 * dim);
  }

  // ---- cuBLASLt with per-shape algorithm search for 2..256 tokens (property prism.cuda.lt, default true) ----

  /**
   * Tuned cuBLASLt GEMMs for power-of-two token counts 2..256 in bf16 (the decode graph buckets;
   * other counts, e.g. the varying batches of forward(), stay on cublasGemmEx so no step waits for
   * a search), or null (cublasGemmEx only).
   */
  private GemmLt lt;
  /** Set while a CUDA graph is being captured: no tuning (it synchronizes) then. */
  boolean capturing;

  /** Turns the tuned cuBLASLt path for decode batches on or off (bf16 only). */
  void useLt(boolean on) {
    if (on && lt == null && bf16) lt = new GemmLt(ctx);
    if (!on && lt != null) {
      ctx.synchronize();
      lt.close();
      lt = null;
    }
  }

  /** Tunes the shape now (outside graph capture) when the cuBLASLt path would serve it. */
  void prepare(long wPtr, long xPtr, int out, int in, int tokens) {
    if (lt != null && tokens > 1 && tokens <= GemmLt.MAX_TOKENS && Integer.bitCount(tokens) == 1) lt.tune(wPtr, xPtr, out, in, tokens);
  }

  /** Tuned shapes (benchmark logs), empty when cuBLASLt is off. */
  String ltDescription() {
    return lt == null ? "" : String.format("cuBLASLt tuning %.0f ms:%s", lt.tuneMillis, lt.describe());
  }

  @Override
  public void close() {
    useLt(false);
    one.close();
    zero.close();
  }
}
