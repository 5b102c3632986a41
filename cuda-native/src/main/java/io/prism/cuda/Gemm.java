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
 * <p>Threading: device thread only; the scalars live in native memory owned by this object.
 */
final class Gemm implements AutoCloseable {
  private final CudaContext ctx;
  private final int inType;
  private final int compute;
  private final FloatPointer one = new FloatPointer(1f);
  private final FloatPointer zero = new FloatPointer(0f);

  Gemm(CudaContext ctx, Precision p) {
    this.ctx = ctx;
    this.inType = p == Precision.BF16 ? cudart.CUDA_R_16BF : cudart.CUDA_R_32F;
    this.compute = p == Precision.BF16 ? cublas.CUBLAS_COMPUTE_32F : cublas.CUBLAS_COMPUTE_32F_PEDANTIC;
  }

  /** Queues {@code y = x w^T (+ y when beta == 1)} on the device's stream. */
  void run(long wPtr, long xPtr, long yPtr, int out, int in, int tokens, float beta) {
    if (tokens == 0) return;
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
