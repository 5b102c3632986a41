package io.prism.runtime.forward;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The forward-pass kernels vectorised with the Vector API ({@code jdk.incubator.vector}, {@link
 * FloatVector#SPECIES_PREFERRED}: 16 lanes with AVX-512, 8 with AVX2) and fused multiply-add.
 * Same contracts as {@link ScalarKernels}, the reference they are tested against.
 *
 * The matrix product lives in {@link PackedGemm} (over {@link PackedMatrix}; its reference is
 * {@link ScalarKernels#gemm}).
 *
 * <p>Every kernel works on one token (or one attention head) at a time and sums in a fixed order
 * for a given length, so a token's result does not depend on the other tokens of the step.
 * Stateless and thread-safe.
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

  /**
   * Scores of {@code n} rows against one vector: {@code out[outOff + j] = dot(q[qOff, qOff + width),
   * src[srcOff + j * srcStride, ... + width)) * scale} for {@code j < n} (attention scores of the
   * positions of one KV block, {@code scale = 1 / sqrt(headDim)}).
   */
  public static void dotRows(float[] q, int qOff, float[] src, int srcOff, int srcStride, int n, int width, float scale, float[] out, int outOff) {
    for (int j = 0; j < n; j++) out[outOff + j] = dot(q, qOff, src, srcOff + j * srcStride, width) * scale;
  }

  /**
   * Weighted sum of {@code n} rows added to {@code out}: {@code out[outOff + i] += sum_j w[wOff + j]
   * * src[srcOff + j * srcStride + i]} for {@code i < width}, the sum over {@code j} in order (the
   * attention-weighted values of one KV block). Accumulates in registers, one 16-lane slice at a time.
   */
  public static void accumulateRows(float[] w, int wOff, int n, float[] src, int srcOff, int srcStride, int width, float[] out, int outOff) {
    int bound = S.loopBound(width);
    int i = 0;
    for (; i < bound; i += L) {
      FloatVector acc = FloatVector.fromArray(S, out, outOff + i);
      for (int j = 0, o = srcOff + i; j < n; j++, o += srcStride) {
        acc = FloatVector.fromArray(S, src, o).fma(FloatVector.broadcast(S, w[wOff + j]), acc);
      }
      acc.intoArray(out, outOff + i);
    }
    for (; i < width; i++) {
      float acc = out[outOff + i];
      for (int j = 0, o = srcOff + i; j < n; j++, o += srcStride) acc = Math.fma(src[o], w[wOff + j], acc);
      out[outOff + i] = acc;
    }
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
}
