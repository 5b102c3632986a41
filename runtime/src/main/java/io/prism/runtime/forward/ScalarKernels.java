package io.prism.runtime.forward;

/**
 * Plain-loop reference versions of the forward-pass kernels; {@link HostKernels} must agree with
 * these within float rounding (a test compares them). Every method works on slices of flat
 * {@code float[]} arrays given by an offset and a length, row-major.
 *
 * <p>Semantics follow llama2.c's {@code run.c} (Karpathy, MIT): RMSNorm, softmax, RoPE on adjacent
 * pairs, SwiGLU. Stateless and thread-safe.
 */
public final class ScalarKernels {
  private ScalarKernels() {}

  /** {@code sum_i a[aOff + i] * b[bOff + i]} for {@code i < n}. */
  public static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
    float s = 0f;
    for (int i = 0; i < n; i++) s += a[aOff + i] * b[bOff + i];
    return s;
  }

  /** {@code y[yOff + i] += a * x[xOff + i]} for {@code i < n}. */
  public static void axpy(float a, float[] x, int xOff, float[] y, int yOff, int n) {
    for (int i = 0; i < n; i++) y[yOff + i] += a * x[xOff + i];
  }

  /** {@code out[outOff + j] = dot(q row, src row j) * scale} for {@code j < n}; see {@link HostKernels#dotRows}. */
  public static void dotRows(float[] q, int qOff, float[] src, int srcOff, int srcStride, int n, int rowsReadable,
      int width, float scale, float[] out, int outOff, float[] scratch) {
    for (int j = 0; j < n; j++) out[outOff + j] = dot(q, qOff, src, srcOff + j * srcStride, width) * scale;
  }

  /** {@code out[outOff + i] += sum_j w[wOff + j] * src[srcOff + j * srcStride + i]}; see {@link HostKernels#accumulateRows}. */
  public static void accumulateRows(float[] w, int wOff, int n, float[] src, int srcOff, int srcStride, int width, float[] out, int outOff) {
    for (int j = 0; j < n; j++) axpy(w[wOff + j], src, srcOff + j * srcStride, out, outOff, width);
  }

  /** {@code y[yOff + i] += b[bOff + i]} for {@code i < n}; see {@link HostKernels#add}. */
  public static void add(float[] y, int yOff, float[] b, int bOff, int n) {
    for (int i = 0; i < n; i++) y[yOff + i] += b[bOff + i];
  }

  /** In-place RMSNorm of each {@code headDim} slice of {@code v[off, off + n)}; see {@link HostKernels#headNorm}. */
  public static void headNorm(float[] v, int off, int n, int headDim, float[] w, int wOff, float eps) {
    for (int h = 0; h < n; h += headDim) rmsnorm(v, off + h, v, off + h, w, wOff, headDim, eps);
  }

  /**
   * RMSNorm: {@code out[i] = w[i] * x[i] / sqrt(mean(x^2) + eps)} over {@code n} elements; {@code
   * out} may be {@code x}.
   */
  public static void rmsnorm(float[] out, int outOff, float[] x, int xOff, float[] w, int wOff, int n, float eps) {
    float ss = 0f;
    for (int i = 0; i < n; i++) ss += x[xOff + i] * x[xOff + i];
    ss = ss / n + eps;
    float inv = (float) (1.0 / Math.sqrt(ss));
    for (int i = 0; i < n; i++) out[outOff + i] = w[wOff + i] * (inv * x[xOff + i]);
  }

  /** In-place softmax of {@code x[off, off + n)} (max subtracted first). */
  public static void softmax(float[] x, int off, int n) {
    float max = Float.NEGATIVE_INFINITY;
    for (int i = 0; i < n; i++) max = Math.max(max, x[off + i]);
    float sum = 0f;
    for (int i = 0; i < n; i++) {
      float e = (float) Math.exp(x[off + i] - max);
      x[off + i] = e;
      sum += e;
    }
    float inv = 1f / sum;
    for (int i = 0; i < n; i++) x[off + i] *= inv;
  }

  /**
   * RoPE in llama2.c's layout: within each head of {@code headDim} elements, the pair {@code (2j,
   * 2j + 1)} is rotated by the angle whose cosine and sine are {@code cos[csOff + j]} and {@code
   * sin[csOff + j]}. Applies to {@code n} elements (a whole number of heads) starting at {@code off}.
   */
  public static void rope(float[] v, int off, int n, int headDim, float[] cos, float[] sin, int csOff) {
    for (int i = 0; i < n; i += 2) {
      int j = (i % headDim) >> 1;
      float c = cos[csOff + j], s = sin[csOff + j];
      float v0 = v[off + i], v1 = v[off + i + 1];
      v[off + i] = v0 * c - v1 * s;
      v[off + i + 1] = v0 * s + v1 * c;
    }
  }

  /** SwiGLU gate: {@code a[i] = silu(a[i]) * b[i]} with {@code silu(x) = x / (1 + exp(-x))}. */
  public static void siluMul(float[] a, int aOff, float[] b, int bOff, int n) {
    for (int i = 0; i < n; i++) {
      float g = a[aOff + i];
      a[aOff + i] = g * (float) (1.0 / (1.0 + Math.exp(-g))) * b[bOff + i];
    }
  }

  /**
   * Batched matrix product over output rows {@code [rowFrom, rowTo)}: for each of {@code numTokens}
   * tokens {@code t} and row {@code r}, {@code y[yOff + t * yStride + r] (+)= sum_k w[wOff + r * in
   * + k] * x[xOff + t * xStride + k]}.
   *
   * @param w weight matrix {@code [out, in]} row-major starting at {@code wOff}
   * @param accumulate add into {@code y} (a residual) instead of overwriting it
   */
  public static void gemm(
      float[] w, int wOff, int in, float[] x, int xOff, int xStride, int numTokens,
      float[] y, int yOff, int yStride, int rowFrom, int rowTo, boolean accumulate) {
    for (int t = 0; t < numTokens; t++) {
      for (int r = rowFrom; r < rowTo; r++) {
        float s = dot(w, wOff + r * in, x, xOff + t * xStride, in);
        int o = yOff + t * yStride + r;
        y[o] = accumulate ? y[o] + s : s;
      }
    }
  }
}
