package io.prism.runtime.forward;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The forward-pass kernels vectorised with the Vector API ({@code jdk.incubator.vector}, {@link
 * FloatVector#SPECIES_PREFERRED}: 16 lanes with AVX-512, 8 with AVX2) and fused multiply-add.
 * Same contracts as {@link ScalarKernels}, the reference they are tested against.
 *
 * <p><b>Batch invariance.</b> Every dot product, whichever {@link #gemm} tile computes it, is
 * summed the same way: one vector accumulator over {@code k} in steps of the vector length, one
 * lane reduction, then the scalar tail. So a token's result does not depend on how many other
 * tokens share the step, and a batch gives bit-for-bit what each sequence gives alone.
 *
 * <p><b>GEMM tiling.</b> A tile of 4 weight rows times 4 tokens keeps 16 accumulators in registers
 * and loads each weight vector once for 4 tokens; a step of {@code T} tokens therefore streams the
 * weight matrix from memory once (the rows of a tile stay in cache for the next token group), which
 * is where batched decode throughput comes from. Stateless and thread-safe.
 */
public final class HostKernels {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();

  private HostKernels() {}

  /** Lanes of the preferred float vector on this machine. */
  public static int vectorLength() {
    return L;
  }

  /** {@code sum_i a[aOff + i] * b[bOff + i]} for {@code i < n}. */
  public static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
    int bound = S.loopBound(n);
    FloatVector acc = FloatVector.zero(S);
    int i = 0;
    for (; i < bound; i += L) {
      acc = FloatVector.fromArray(S, a, aOff + i).fma(FloatVector.fromArray(S, b, bOff + i), acc);
    }
    float s = acc.reduceLanes(VectorOperators.ADD);
    for (; i < n; i++) s += a[aOff + i] * b[bOff + i];
    return s;
  }

  /** {@code y[yOff + i] += a * x[xOff + i]} for {@code i < n}. */
  public static void axpy(float a, float[] x, int xOff, float[] y, int yOff, int n) {
    int bound = S.loopBound(n);
    FloatVector va = FloatVector.broadcast(S, a);
    int i = 0;
    for (; i < bound; i += L) {
      FloatVector.fromArray(S, x, xOff + i).fma(va, FloatVector.fromArray(S, y, yOff + i)).intoArray(y, yOff + i);
    }
    for (; i < n; i++) y[yOff + i] += a * x[xOff + i];
  }

  /** {@code sum_i x[off + i]^2} for {@code i < n}. */
  public static float sumOfSquares(float[] x, int off, int n) {
    return dot(x, off, x, off, n);
  }

  /**
   * RMSNorm: {@code out[i] = w[i] * x[i] / sqrt(mean(x^2) + eps)} over {@code n} elements; {@code
   * out} may be {@code x}.
   */
  public static void rmsnorm(float[] out, int outOff, float[] x, int xOff, float[] w, int wOff, int n, float eps) {
    float ss = sumOfSquares(x, xOff, n) / n + eps;
    float inv = (float) (1.0 / Math.sqrt(ss));
    int bound = S.loopBound(n);
    int i = 0;
    for (; i < bound; i += L) {
      FloatVector.fromArray(S, x, xOff + i).mul(inv).mul(FloatVector.fromArray(S, w, wOff + i)).intoArray(out, outOff + i);
    }
    for (; i < n; i++) out[outOff + i] = w[wOff + i] * (inv * x[xOff + i]);
  }

  /**
   * In-place softmax of {@code x[off, off + n)} (max subtracted first). The exponential is the Vector
   * API's {@code EXP} lane operation (SVML on x86, within an ulp or so of {@link Math#exp}, which the
   * scalar tail uses); about 20x faster than a {@link Math#exp} per element.
   */
  public static void softmax(float[] x, int off, int n) {
    int bound = S.loopBound(n);
    int i = 0;
    float max = Float.NEGATIVE_INFINITY;
    if (bound > 0) {
      FloatVector vmax = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
      for (; i < bound; i += L) vmax = vmax.max(FloatVector.fromArray(S, x, off + i));
      max = vmax.reduceLanes(VectorOperators.MAX);
    }
    for (; i < n; i++) max = Math.max(max, x[off + i]);
    FloatVector vsum = FloatVector.zero(S);
    for (i = 0; i < bound; i += L) {
      FloatVector e = FloatVector.fromArray(S, x, off + i).sub(max).lanewise(VectorOperators.EXP);
      e.intoArray(x, off + i);
      vsum = vsum.add(e);
    }
    float sum = vsum.reduceLanes(VectorOperators.ADD);
    for (; i < n; i++) {
      float e = (float) Math.exp(x[off + i] - max);
      x[off + i] = e;
      sum += e;
    }
    float inv = 1f / sum;
    i = 0;
    for (; i < bound; i += L) FloatVector.fromArray(S, x, off + i).mul(inv).intoArray(x, off + i);
    for (; i < n; i++) x[off + i] *= inv;
  }

  /**
   * RoPE on adjacent pairs within each head; see {@link ScalarKernels#rope}. Scalar: it is a tiny
   * share of the step and the pair shuffle does not pay for itself at these head sizes.
   */
  public static void rope(float[] v, int off, int n, int headDim, float[] cos, float[] sin, int csOff) {
    int half = headDim >> 1;
    for (int h = 0; h < n; h += headDim) {
      int base = off + h;
      for (int j = 0; j < half; j++) {
        float c = cos[csOff + j], s = sin[csOff + j];
        int p = base + 2 * j;
        float v0 = v[p], v1 = v[p + 1];
        v[p] = v0 * c - v1 * s;
        v[p + 1] = v0 * s + v1 * c;
      }
    }
  }

  /** SwiGLU gate: {@code a[i] = silu(a[i]) * b[i]}, {@code silu(g) = g / (1 + exp(-g))}; vector {@code EXP} as in {@link #softmax}. */
  public static void siluMul(float[] a, int aOff, float[] b, int bOff, int n) {
    int bound = S.loopBound(n);
    int i = 0;
    for (; i < bound; i += L) {
      FloatVector g = FloatVector.fromArray(S, a, aOff + i);
      FloatVector sig = g.neg().lanewise(VectorOperators.EXP).add(1f);
      g.div(sig).mul(FloatVector.fromArray(S, b, bOff + i)).intoArray(a, aOff + i);
    }
    for (; i < n; i++) {
      float g = a[aOff + i];
      a[aOff + i] = g / (1f + (float) Math.exp(-g)) * b[bOff + i];
    }
  }

  /**
   * Batched matrix product over output rows {@code [rowFrom, rowTo)}; contract of {@link
   * ScalarKernels#gemm}. Tiles: 4 rows x 4 tokens, then 4 rows x 1 token for the token tail, then
   * single rows.
   */
  public static void gemm(
      float[] w, int wOff, int in, float[] x, int xOff, int xStride, int numTokens,
      float[] y, int yOff, int yStride, int rowFrom, int rowTo, boolean accumulate) {
    int r = rowFrom;
    for (; r + 4 <= rowTo; r += 4) {
      int w0 = wOff + r * in;
      int t = 0;
      for (; t + 4 <= numTokens; t += 4) {
        tile4x4(w, w0, in, x, xOff + t * xStride, xStride, y, yOff + t * yStride + r, yStride, accumulate);
      }
      for (; t < numTokens; t++) {
        tile4x1(w, w0, in, x, xOff + t * xStride, y, yOff + t * yStride + r, accumulate);
      }
    }
    for (; r < rowTo; r++) {
      for (int t = 0; t < numTokens; t++) {
        float s = dot(w, wOff + r * in, x, xOff + t * xStride, in);
        int o = yOff + t * yStride + r;
        y[o] = accumulate ? y[o] + s : s;
      }
    }
  }

  private static void store(float[] y, int o, float s, boolean accumulate) {
    y[o] = accumulate ? y[o] + s : s;
  }

  private static void tile4x1(float[] w, int w0, int in, float[] x, int x0, float[] y, int y0, boolean acc) {
    int bound = S.loopBound(in);
    int w1 = w0 + in, w2 = w1 + in, w3 = w2 + in;
    FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
    int k = 0;
    for (; k < bound; k += L) {
      FloatVector xv = FloatVector.fromArray(S, x, x0 + k);
      a0 = FloatVector.fromArray(S, w, w0 + k).fma(xv, a0);
      a1 = FloatVector.fromArray(S, w, w1 + k).fma(xv, a1);
      a2 = FloatVector.fromArray(S, w, w2 + k).fma(xv, a2);
      a3 = FloatVector.fromArray(S, w, w3 + k).fma(xv, a3);
    }
    float s0 = a0.reduceLanes(VectorOperators.ADD), s1 = a1.reduceLanes(VectorOperators.ADD);
    float s2 = a2.reduceLanes(VectorOperators.ADD), s3 = a3.reduceLanes(VectorOperators.ADD);
    for (; k < in; k++) {
      float xk = x[x0 + k];
      s0 += w[w0 + k] * xk;
      s1 += w[w1 + k] * xk;
      s2 += w[w2 + k] * xk;
      s3 += w[w3 + k] * xk;
    }
    store(y, y0, s0, acc);
    store(y, y0 + 1, s1, acc);
    store(y, y0 + 2, s2, acc);
    store(y, y0 + 3, s3, acc);
  }

  private static void tile4x4(float[] w, int w0, int in, float[] x, int x0, int xStride, float[] y, int y0, int yStride, boolean acc) {
    int bound = S.loopBound(in);
    int w1 = w0 + in, w2 = w1 + in, w3 = w2 + in;
    int x1 = x0 + xStride, x2 = x1 + xStride, x3 = x2 + xStride;
    FloatVector z = FloatVector.zero(S);
    FloatVector a00 = z, a01 = z, a02 = z, a03 = z;
    FloatVector a10 = z, a11 = z, a12 = z, a13 = z;
    FloatVector a20 = z, a21 = z, a22 = z, a23 = z;
    FloatVector a30 = z, a31 = z, a32 = z, a33 = z;
    int k = 0;
    for (; k < bound; k += L) {
      FloatVector v0 = FloatVector.fromArray(S, x, x0 + k);
      FloatVector v1 = FloatVector.fromArray(S, x, x1 + k);
      FloatVector v2 = FloatVector.fromArray(S, x, x2 + k);
      FloatVector v3 = FloatVector.fromArray(S, x, x3 + k);
      FloatVector r = FloatVector.fromArray(S, w, w0 + k);
      a00 = r.fma(v0, a00);
      a01 = r.fma(v1, a01);
      a02 = r.fma(v2, a02);
      a03 = r.fma(v3, a03);
      r = FloatVector.fromArray(S, w, w1 + k);
      a10 = r.fma(v0, a10);
      a11 = r.fma(v1, a11);
      a12 = r.fma(v2, a12);
      a13 = r.fma(v3, a13);
      r = FloatVector.fromArray(S, w, w2 + k);
      a20 = r.fma(v0, a20);
      a21 = r.fma(v1, a21);
      a22 = r.fma(v2, a22);
      a23 = r.fma(v3, a23);
      r = FloatVector.fromArray(S, w, w3 + k);
      a30 = r.fma(v0, a30);
      a31 = r.fma(v1, a31);
      a32 = r.fma(v2, a32);
      a33 = r.fma(v3, a33);
    }
    float[] s = new float[16];
    s[0] = a00.reduceLanes(VectorOperators.ADD);
    s[1] = a01.reduceLanes(VectorOperators.ADD);
    s[2] = a02.reduceLanes(VectorOperators.ADD);
    s[3] = a03.reduceLanes(VectorOperators.ADD);
    s[4] = a10.reduceLanes(VectorOperators.ADD);
    s[5] = a11.reduceLanes(VectorOperators.ADD);
    s[6] = a12.reduceLanes(VectorOperators.ADD);
    s[7] = a13.reduceLanes(VectorOperators.ADD);
    s[8] = a20.reduceLanes(VectorOperators.ADD);
    s[9] = a21.reduceLanes(VectorOperators.ADD);
    s[10] = a22.reduceLanes(VectorOperators.ADD);
    s[11] = a23.reduceLanes(VectorOperators.ADD);
    s[12] = a30.reduceLanes(VectorOperators.ADD);
    s[13] = a31.reduceLanes(VectorOperators.ADD);
    s[14] = a32.reduceLanes(VectorOperators.ADD);
    s[15] = a33.reduceLanes(VectorOperators.ADD);
    int[] xs = {x0, x1, x2, x3};
    int[] ws = {w0, w1, w2, w3};
    for (int ri = 0; ri < 4; ri++) {
      for (int ti = 0; ti < 4; ti++) {
        float v = s[ri * 4 + ti];
        for (int kk = k; kk < in; kk++) v += w[ws[ri] + kk] * x[xs[ti] + kk];
        store(y, y0 + ti * yStride + ri, v, acc);
      }
    }
  }
}
