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
  }

  /** Queues {@code y = x w^T (+ y when beta == 1)} on the device's stream. */
  void run(long wPtr, long xPtr, long yPtr, int out, int in, int tokens, float beta) {
    if (tokens == 0) return;
    if (bf16 && skinnyKernel && tokens == 1 && in % 8 == 0) {
      ctx.kernels.args().ptr(wPtr).ptr(xPtr).ptr(yPtr).i32(out).i32(in).i32(beta == 0f ? 0 : 1)
          .go("gemv_bf16_" + tokens, ctx.stream, (out + 7) / 8, 1, 1, 256, 0);
      return;
    }
    checkBlas("cublasGemmEx(" + out + "x" + in + " x " + tokens + ")", cublas.cublasGemmEx(ctx.blas, cublas.CUBLAS_OP_T, cublas.CUBLAS_OP_N,
        out, tokens, in, one, new DevicePointer(wPtr), inType, in, new DevicePointer(xPtr), inType, in,
        beta == 0f ? zero : one, new DevicePointer(yPtr), cudart.CUDA_R_32F, out, compute, cublas.CUBLAS_GEMM_DEFAULT));
  }

  @Override
  public void close() {
    one.close();
    zero.close();
  }
}
