package io.prism.cuda;

import static io.prism.cuda.CudaCheck.check;
import static io.prism.cuda.CudaCheck.checkBlas;

import java.util.HashMap;
import java.util.Map;
import org.bytedeco.cuda.cublas.cublasLtContext;
import org.bytedeco.cuda.cublas.cublasLtMatmulAlgo_t;
import org.bytedeco.cuda.cublas.cublasLtMatmulDescOpaque_t;
import org.bytedeco.cuda.cublas.cublasLtMatmulHeuristicResult_t;
import org.bytedeco.cuda.cublas.cublasLtMatmulPreferenceOpaque_t;
import org.bytedeco.cuda.cublas.cublasLtMatrixLayoutOpaque_t;
import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.PointerPointer;

/**
 * bf16 decode GEMMs ({@code Y[T, out] = X[T, in] W[out, in]^T (+ Y)}, T at most {@link #MAX_TOKENS})
 * through cuBLASLt with the algorithm picked per shape by timing: {@code cublasLtMatmulAlgoGetHeuristic}
 * proposes up to {@link #CANDIDATES} algorithms (tile shapes, split-K, ...), each runs a few times
 * between CUDA events on the real weights (output into a scratch buffer allocated for the search
 * and freed after it), the fastest is kept for that (out, in, T). Measured on an H200 for the 8B
 * shape at 64 tokens: 4.14 ms of GEMMs per decode step against about 4.5 with cublasGemmEx. Column-major
 * view as in {@link Gemm}: {@code A = W} ({@code in x out}, transposed), {@code B = X} ({@code in x T}),
 * {@code C = D = Y} ({@code out x T}, float32), {@code CUBLAS_COMPUTE_32F}.
 *
 * <p>Tuning synchronizes the stream, so it must not happen while a CUDA graph is being captured:
 * {@link #tune} is called before capture for every shape of a bucket. Shares the cuBLAS handle's
 * workspace (same stream, never concurrent). Threading: device thread only.
 */
final class GemmLt implements AutoCloseable {
  /** Largest token count served here (decode buckets); larger GEMMs stay on cublasGemmEx. */
  static final int MAX_TOKENS = 256;
  static final int CANDIDATES = 32;
  private static final int REPS = 5;

  private final CudaContext ctx;
  private final cublasLtContext lt = new cublasLtContext();
  private final cublasLtMatmulDescOpaque_t desc;
  private final cublasLtMatmulPreferenceOpaque_t pref;
  private final FloatPointer one = new FloatPointer(1f);
  private final FloatPointer zero = new FloatPointer(0f);
  private final Map<Long, Plan> plans = new HashMap<>();
  /** Milliseconds spent tuning so far. */
  double tuneMillis;

  /** One tuned shape: its layouts and the chosen algorithm (kept alive with its heuristic array). */
  private record Plan(cublasLtMatrixLayoutOpaque_t a, cublasLtMatrixLayoutOpaque_t b, cublasLtMatrixLayoutOpaque_t c,
      cublasLtMatmulHeuristicResult_t results, cublasLtMatmulAlgo_t algo, double micros) {}

  GemmLt(CudaContext ctx) {
    this.ctx = ctx;
    checkBlas("cublasLtCreate", cublas.cublasLtCreate(lt));
    PointerPointer<?> pp = new PointerPointer<>(1);
    checkBlas("cublasLtMatmulDescCreate", cublas.cublasLtMatmulDescCreate(pp, cublas.CUBLAS_COMPUTE_32F, cudart.CUDA_R_32F));
    desc = new cublasLtMatmulDescOpaque_t(pp.get(0));
    try (IntPointer opT = new IntPointer(1); IntPointer opN = new IntPointer(1)) {
      opT.put(cublas.CUBLAS_OP_T);
      opN.put(cublas.CUBLAS_OP_N);
      checkBlas("cublasLtMatmulDescSetAttribute(TRANSA)", cublas.cublasLtMatmulDescSetAttribute(desc, cublas.CUBLASLT_MATMUL_DESC_TRANSA, opT, 4));
      checkBlas("cublasLtMatmulDescSetAttribute(TRANSB)", cublas.cublasLtMatmulDescSetAttribute(desc, cublas.CUBLASLT_MATMUL_DESC_TRANSB, opN, 4));
    }
    checkBlas("cublasLtMatmulPreferenceCreate", cublas.cublasLtMatmulPreferenceCreate(pp));
    pref = new cublasLtMatmulPreferenceOpaque_t(pp.get(0));
    try (LongPointer ws = new LongPointer(1)) {
      ws.put(ctx.blasWorkspaceBytes());
      checkBlas("cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES)",
          cublas.cublasLtMatmulPreferenceSetAttribute(pref, cublas.CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, ws, 8));
    }
  }

  private static long key(int out, int in, int tokens) {
    return ((long) out << 40) ^ ((long) in << 16) ^ tokens;
  }

  private static cublasLtMatrixLayoutOpaque_t layout(int type, int rows, int cols, int ld) {
    PointerPointer<?> pp = new PointerPointer<>(1);
    checkBlas("cublasLtMatrixLayoutCreate", cublas.cublasLtMatrixLayoutCreate(pp, type, rows, cols, ld));
    return new cublasLtMatrixLayoutOpaque_t(pp.get(0));
  }

  /** Whether the shape is tuned (so {@link #run} will not synchronize). */
  boolean tuned(int out, int in, int tokens) {
    return plans.containsKey(key(out, in, tokens));
  }

  /**
   * Picks the fastest algorithm for the shape by running candidates on {@code w, x} into a scratch
   * buffer of this object (grown on demand). Synchronizes. No-op when tuned.
   */
  void tune(long w, long x, int out, int in, int tokens) {
    long k = key(out, in, tokens);
    if (plans.containsKey(k)) return;
    long t0 = System.nanoTime();
    long scratch = ctx.alloc("cuBLASLt tuning scratch", 4L * out * tokens); // freed below: nothing stays allocated after tuning
    cublasLtMatrixLayoutOpaque_t a = layout(cudart.CUDA_R_16BF, in, out, in);
    cublasLtMatrixLayoutOpaque_t b = layout(cudart.CUDA_R_16BF, in, tokens, in);
    cublasLtMatrixLayoutOpaque_t c = layout(cudart.CUDA_R_32F, out, tokens, out);
    cublasLtMatmulHeuristicResult_t results = new cublasLtMatmulHeuristicResult_t(CANDIDATES);
    int found;
    try (IntPointer n = new IntPointer(1)) {
      checkBlas("cublasLtMatmulAlgoGetHeuristic", cublas.cublasLtMatmulAlgoGetHeuristic(lt, desc, a, b, c, c, pref, CANDIDATES, results, n));
      found = n.get();
    }
    CUevent_st e0 = new CUevent_st(), e1 = new CUevent_st();
    check("cuEventCreate", cudart.cuEventCreate(e0, cudart.CU_EVENT_DEFAULT));
    check("cuEventCreate", cudart.cuEventCreate(e1, cudart.CU_EVENT_DEFAULT));
    int best = -1;
    double bestUs = Double.MAX_VALUE;
    try (FloatPointer ms = new FloatPointer(1)) {
      for (int i = 0; i < found; i++) {
        cublasLtMatmulHeuristicResult_t r = results.getPointer(i);
        if (r.state() != cublas.CUBLAS_STATUS_SUCCESS) continue;
        int st = matmul(r.algo(), a, b, c, w, x, scratch, 0f);
        if (st != cublas.CUBLAS_STATUS_SUCCESS) continue;
        check("cuEventRecord", cudart.cuEventRecord(e0, ctx.stream));
        for (int rep = 0; rep < REPS; rep++) matmul(r.algo(), a, b, c, w, x, scratch, 0f);
        check("cuEventRecord", cudart.cuEventRecord(e1, ctx.stream));
        check("cuEventSynchronize", cudart.cuEventSynchronize(e1));
        check("cuEventElapsedTime", cudart.cuEventElapsedTime(ms, e0, e1));
        double us = ms.get() * 1e3 / REPS;
        if (us < bestUs) {
          bestUs = us;
          best = i;
        }
      }
    } finally {
      cudart.cuEventDestroy(e0);
      cudart.cuEventDestroy(e1);
      ctx.synchronize();
      ctx.free(scratch);
    }
    if (best < 0) throw new IllegalStateException("cuBLASLt proposed no usable algorithm for " + out + "x" + in + " x " + tokens);
    cublasLtMatmulHeuristicResult_t chosen = results.getPointer(best);
    plans.put(k, new Plan(a, b, c, results, chosen.algo(), bestUs));
    tuneMillis += (System.nanoTime() - t0) / 1e6;
  }

  private int matmul(cublasLtMatmulAlgo_t algo, cublasLtMatrixLayoutOpaque_t a, cublasLtMatrixLayoutOpaque_t b,
      cublasLtMatrixLayoutOpaque_t c, long w, long x, long y, float beta) {
    return cublas.cublasLtMatmul(lt, desc, one, new DevicePointer(w), a, new DevicePointer(x), b, beta == 0f ? zero : one,
        new DevicePointer(y), c, new DevicePointer(y), c, algo, new DevicePointer(ctx.blasWorkspace()), ctx.blasWorkspaceBytes(), ctx.stream);
  }

  /** Queues the GEMM with the tuned algorithm; the shape must be {@link #tuned}. */
  void run(long w, long x, long y, int out, int in, int tokens, float beta) {
    Plan p = plans.get(key(out, in, tokens));
    if (p == null) throw new IllegalStateException("shape " + out + "x" + in + " x " + tokens + " is not tuned");
    checkBlas("cublasLtMatmul(" + out + "x" + in + " x " + tokens + ")", matmul(p.algo, p.a, p.b, p.c, w, x, y, beta));
  }

  /** Tuned shapes and their times, for benchmark logs. */
  String describe() {
    StringBuilder sb = new StringBuilder();
    plans.forEach((k, p) -> sb.append(String.format(" [%d x %d x %d: %.1f us]", k >>> 40, (k >>> 16) & 0xffffff, k & 0xffff, p.micros)));
    return sb.toString();
  }

  @Override
  public void close() {
    for (Plan p : plans.values()) {
      cublas.cublasLtMatrixLayoutDestroy(p.a);
      cublas.cublasLtMatrixLayoutDestroy(p.b);
      cublas.cublasLtMatrixLayoutDestroy(p.c);
      p.results.close();
    }
    plans.clear();
    cublas.cublasLtMatmulPreferenceDestroy(pref);
    cublas.cublasLtMatmulDescDestroy(desc);
    cublas.cublasLtDestroy(lt);
    one.close();
    zero.close();
  }
}
