package io.prism.runtime.forward;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
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
   *
   * <p>With 16-lane vectors, rows go in groups of 16: each row's products are summed lane-wise into
   * one vector (kept in {@code scratch}), and the 16 vectors are reduced together by a transposing
   * butterfly (4 levels of blend, permute and add) that leaves row {@code j}'s sum in lane {@code
   * j}: about 4 vector operations per row instead of a 16-lane reduction per row. A last group
   * shorter than 16 reads the following rows too (up to {@code rowsReadable}, e.g. the rest of the
   * KV block; their values are discarded and cannot leak into other lanes) and writes up to 16
   * floats into {@code out}, which therefore needs {@code roundUp(n, 16)} elements from {@code
   * outOff}. Without enough readable rows, or with another vector length, rows are scored one by one.
   *
   * @param rowsReadable rows of {@code src} that exist from {@code srcOff} ({@code >= n})
   * @param scratch at least 256 floats, overwritten
   */
  public static void dotRows(float[] q, int qOff, float[] src, int srcOff, int srcStride, int n, int rowsReadable,
      int width, float scale, float[] out, int outOff, float[] scratch) {
    int j = 0;
    if (L == 16 && width >= L) {
      for (; j < n && j + 16 <= rowsReadable; j += 16) {
        dot16(q, qOff, src, srcOff + j * srcStride, srcStride, width, scale, out, outOff + j, scratch);
      }
    }
    for (; j < n; j++) out[outOff + j] = dot(q, qOff, src, srcOff + j * srcStride, width) * scale;
  }

  private static final VectorShuffle<Float> SWAP8 = L == 16 ? VectorShuffle.fromOp(S, i -> i ^ 8) : null;
  private static final VectorShuffle<Float> SWAP4 = L == 16 ? VectorShuffle.fromOp(S, i -> i ^ 4) : null;
  private static final VectorShuffle<Float> SWAP2 = L == 16 ? VectorShuffle.fromOp(S, i -> i ^ 2) : null;
  private static final VectorShuffle<Float> SWAP1 = L == 16 ? VectorShuffle.fromOp(S, i -> i ^ 1) : null;
  private static final VectorMask<Float> BIT8 = L == 16 ? VectorMask.fromLong(S, 0xFF00L) : null;
  private static final VectorMask<Float> BIT4 = L == 16 ? VectorMask.fromLong(S, 0xF0F0L) : null;
  private static final VectorMask<Float> BIT2 = L == 16 ? VectorMask.fromLong(S, 0xCCCCL) : null;
  private static final VectorMask<Float> BIT1 = L == 16 ? VectorMask.fromLong(S, 0xAAAAL) : null;

  private static FloatVector part(float[] scratch, int row) {
    return FloatVector.fromArray(S, scratch, row * 16);
  }

  /** Sixteen row scores at once (16-lane vectors): {@code out[outOff + j]} for {@code j < 16}. */
  private static void dot16(float[] q, int qOff, float[] src, int srcOff, int stride, int width, float scale, float[] out,
      int outOff, float[] scratch) {
    int bound = S.loopBound(width);
    for (int j = 0, ro = srcOff; j < 16; j++, ro += stride) {
      FloatVector acc = FloatVector.fromArray(S, q, qOff).mul(FloatVector.fromArray(S, src, ro));
      for (int i = L; i < bound; i += L) acc = FloatVector.fromArray(S, q, qOff + i).fma(FloatVector.fromArray(S, src, ro + i), acc);
      acc.intoArray(scratch, j * 16);
    }
    FloatVector p0 = part(scratch, 0), p1 = part(scratch, 1), p2 = part(scratch, 2), p3 = part(scratch, 3);
    FloatVector p4 = part(scratch, 4), p5 = part(scratch, 5), p6 = part(scratch, 6), p7 = part(scratch, 7);
    FloatVector p8 = part(scratch, 8), p9 = part(scratch, 9), p10 = part(scratch, 10), p11 = part(scratch, 11);
    FloatVector p12 = part(scratch, 12), p13 = part(scratch, 13), p14 = part(scratch, 14), p15 = part(scratch, 15);
    // combine(x, y): lanes with the bit clear get pair sums of x, lanes with it set pair sums of y
    FloatVector c0 = p0.blend(p8, BIT8).add(p8.blend(p0, BIT8).rearrange(SWAP8));
    FloatVector c1 = p1.blend(p9, BIT8).add(p9.blend(p1, BIT8).rearrange(SWAP8));
    FloatVector c2 = p2.blend(p10, BIT8).add(p10.blend(p2, BIT8).rearrange(SWAP8));
    FloatVector c3 = p3.blend(p11, BIT8).add(p11.blend(p3, BIT8).rearrange(SWAP8));
    FloatVector c4 = p4.blend(p12, BIT8).add(p12.blend(p4, BIT8).rearrange(SWAP8));
    FloatVector c5 = p5.blend(p13, BIT8).add(p13.blend(p5, BIT8).rearrange(SWAP8));
    FloatVector c6 = p6.blend(p14, BIT8).add(p14.blend(p6, BIT8).rearrange(SWAP8));
    FloatVector c7 = p7.blend(p15, BIT8).add(p15.blend(p7, BIT8).rearrange(SWAP8));
    FloatVector d0 = c0.blend(c4, BIT4).add(c4.blend(c0, BIT4).rearrange(SWAP4)), d1 = c1.blend(c5, BIT4).add(c5.blend(c1, BIT4).rearrange(SWAP4));
    FloatVector d2 = c2.blend(c6, BIT4).add(c6.blend(c2, BIT4).rearrange(SWAP4)), d3 = c3.blend(c7, BIT4).add(c7.blend(c3, BIT4).rearrange(SWAP4));
    FloatVector e0 = d0.blend(d2, BIT2).add(d2.blend(d0, BIT2).rearrange(SWAP2)), e1 = d1.blend(d3, BIT2).add(d3.blend(d1, BIT2).rearrange(SWAP2));
    FloatVector sums = e0.blend(e1, BIT1).add(e1.blend(e0, BIT1).rearrange(SWAP1));
    if (bound < width) { // scalar tail of each row, added after the vector part
      for (int j = 0; j < 16; j++) {
        float t = 0f;
        for (int i = bound, o = srcOff + j * stride + bound; i < width; i++, o++) t += q[qOff + i] * src[o];
        scratch[j] = t;
      }
      sums = sums.add(FloatVector.fromArray(S, scratch, 0));
    }
    sums.mul(scale).intoArray(out, outOff);
  }

  /**
   * Weighted sum of {@code n} rows added to {@code out}: {@code out[outOff + i] += sum_j w[wOff + j]
   * * src[srcOff + j * srcStride + i]} for {@code i < width}, the sum over {@code j} in order (the
   * attention-weighted values of one KV block). Accumulates in registers, up to four 16-lane slices
   * per pass so that independent FMA chains overlap.
   */
  public static void accumulateRows(float[] w, int wOff, int n, float[] src, int srcOff, int srcStride, int width, float[] out, int outOff) {
    int bound = S.loopBound(width);
    int i = 0;
    for (; i + 4 * L <= bound; i += 4 * L) {
      FloatVector a0 = FloatVector.fromArray(S, out, outOff + i), a1 = FloatVector.fromArray(S, out, outOff + i + L);
      FloatVector a2 = FloatVector.fromArray(S, out, outOff + i + 2 * L), a3 = FloatVector.fromArray(S, out, outOff + i + 3 * L);
      for (int j = 0, o = srcOff + i; j < n; j++, o += srcStride) {
        FloatVector wj = FloatVector.broadcast(S, w[wOff + j]);
        a0 = FloatVector.fromArray(S, src, o).fma(wj, a0);
        a1 = FloatVector.fromArray(S, src, o + L).fma(wj, a1);
        a2 = FloatVector.fromArray(S, src, o + 2 * L).fma(wj, a2);
        a3 = FloatVector.fromArray(S, src, o + 3 * L).fma(wj, a3);
      }
      a0.intoArray(out, outOff + i);
      a1.intoArray(out, outOff + i + L);
      a2.intoArray(out, outOff + i + 2 * L);
      a3.intoArray(out, outOff + i + 3 * L);
    }
    if (i + 3 * L <= bound) { // e.g. head dim 48: three chains at once
      FloatVector a0 = FloatVector.fromArray(S, out, outOff + i), a1 = FloatVector.fromArray(S, out, outOff + i + L);
      FloatVector a2 = FloatVector.fromArray(S, out, outOff + i + 2 * L);
      for (int j = 0, o = srcOff + i; j < n; j++, o += srcStride) {
        FloatVector wj = FloatVector.broadcast(S, w[wOff + j]);
        a0 = FloatVector.fromArray(S, src, o).fma(wj, a0);
        a1 = FloatVector.fromArray(S, src, o + L).fma(wj, a1);
        a2 = FloatVector.fromArray(S, src, o + 2 * L).fma(wj, a2);
      }
      a0.intoArray(out, outOff + i);
      a1.intoArray(out, outOff + i + L);
      a2.intoArray(out, outOff + i + 2 * L);
      i += 3 * L;
    } else if (i + 2 * L <= bound) {
      FloatVector a0 = FloatVector.fromArray(S, out, outOff + i), a1 = FloatVector.fromArray(S, out, outOff + i + L);
      for (int j = 0, o = srcOff + i; j < n; j++, o += srcStride) {
        FloatVector wj = FloatVector.broadcast(S, w[wOff + j]);
        a0 = FloatVector.fromArray(S, src, o).fma(wj, a0);
        a1 = FloatVector.fromArray(S, src, o + L).fma(wj, a1);
      }
      a0.intoArray(out, outOff + i);
      a1.intoArray(out, outOff + i + L);
      i += 2 * L;
    }
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

  /**
   * Reads one float per 64-byte cache line of {@code a[from, from + len)}, in order, and returns a
   * value that depends on them (the caller must keep it, e.g. fold it into a field, or the JIT drops
   * the loads). Java has no prefetch instruction; this sequential pass lets the hardware prefetcher
   * and out-of-order loads fetch a cold region (a KV block) faster than the strided per-head reads
   * that follow, about 25% faster attention over a KV cache that is not in cache.
   */
  public static int touch(float[] a, int from, int len) {
    int acc = 0;
    for (int i = from, end = from + len; i < end; i += 16) acc ^= Float.floatToRawIntBits(a[i]);
    return acc;
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

  /** {@code y[yOff + i] += b[bOff + i]} for {@code i < n} (a bias add). */
  public static void add(float[] y, int yOff, float[] b, int bOff, int n) {
    int bound = S.loopBound(n);
    int i = 0;
    for (; i < bound; i += L) FloatVector.fromArray(S, y, yOff + i).add(FloatVector.fromArray(S, b, bOff + i)).intoArray(y, yOff + i);
    for (; i < n; i++) y[yOff + i] += b[bOff + i];
  }

  /**
   * In-place RMSNorm of each head of {@code v[off, off + n)} ({@code n / headDim} heads of {@code
   * headDim}), all with the weights {@code w[wOff, wOff + headDim)} (Qwen3's q and k norms).
   */
  public static void headNorm(float[] v, int off, int n, int headDim, float[] w, int wOff, float eps) {
    for (int h = 0; h < n; h += headDim) rmsnorm(v, off + h, v, off + h, w, wOff, headDim, eps);
  }

  /**
   * In-place softmax of {@code x[off, off + n)} (max subtracted first). The exponential is {@link
   * VectorMath#exp}, about 20x faster than {@link Math#exp} per element and the same bits in every
   * JIT tier (vector body and scalar tail alike).
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
      FloatVector e = VectorMath.exp(FloatVector.fromArray(S, x, off + i).sub(max));
      e.intoArray(x, off + i);
      vsum = vsum.add(e);
    }
    float sum = vsum.reduceLanes(VectorOperators.ADD);
    for (; i < n; i++) {
      float e = VectorMath.exp(x[off + i] - max);
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

  /** SwiGLU gate: {@code a[i] = silu(a[i]) * b[i]}, {@code silu(g) = g / (1 + exp(-g))}; {@link VectorMath#exp} as in {@link #softmax}. */
  public static void siluMul(float[] a, int aOff, float[] b, int bOff, int n) {
    int bound = S.loopBound(n);
    int i = 0;
    for (; i < bound; i += L) {
      FloatVector g = FloatVector.fromArray(S, a, aOff + i);
      FloatVector sig = VectorMath.exp(g.neg()).add(1f);
      g.div(sig).mul(FloatVector.fromArray(S, b, bOff + i)).intoArray(a, aOff + i);
    }
    for (; i < n; i++) {
      float g = a[aOff + i];
      a[aOff + i] = g / (1f + VectorMath.exp(-g)) * b[bOff + i];
    }
  }
}
