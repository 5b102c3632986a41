package io.prism.runtime.forward;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The forward pass's matrix product {@code y[t, r] (+)= sum_k W[r, k] * x[t, k]} over a {@link
 * PackedMatrix}, with the Vector API. One vector holds one column of a 16-row panel; each token's
 * input element {@code x[t, k]} is broadcast, so the product is a chain of fused multiply-adds per
 * output with no horizontal reduction, and a panel's 16 results are stored with one vector store.
 *
 * <p>Register tiles (panels x tokens), chosen by how many tokens are left: 2 x 8 (one block) for
 * groups of 8 tokens, 4 x 4 (two blocks) for groups of 4, 4 x 1 for single tokens; one block at a
 * time at the end of the range. Each loads every weight vector once per token group, so a step of 8
 * tokens streams the weights from memory once and does 8 FMAs per weight vector, and the 2 x 8 tile
 * reads its weights as one sequential stream. The loop over blocks is outermost so that a long
 * prefill reuses each block from cache for all its tokens.
 *
 * <p><b>Batch invariance.</b> Every output is {@code acc = 0; for k in order: acc = fma(W[r, k],
 * x[t, k], acc)}, then {@code y = acc} or {@code y = y + acc}, whatever tile computes it; so a token's
 * result is bit-for-bit independent of how many tokens share the step.
 *
 * <p>Input layout: {@code xt[k * numTokens + t]} (tokens innermost; see {@link #transpose}); with
 * one token that is just {@code x}. Stateless and thread-safe; threads must write disjoint panels.
 */
public final class PackedGemm {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int P = PackedMatrix.PANEL;
  private static final int B = PackedMatrix.BLOCK;

  static {
    if (S.length() != P) throw new IllegalStateException("PackedMatrix.PANEL " + P + " != vector length " + S.length());
  }

  private PackedGemm() {}

  /**
   * {@code xt[k * numTokens + t] = x[xOff + t * xStride + k]} for {@code k < cols}, {@code t < numTokens}.
   */
  public static void transpose(float[] x, int xOff, int xStride, int numTokens, int cols, float[] xt) {
    for (int t = 0; t < numTokens; t++) {
      int src = xOff + t * xStride;
      for (int k = 0; k < cols; k++) xt[k * numTokens + t] = x[src + k];
    }
  }

  /**
   * For blocks {@code [blockFrom, blockTo)} of {@code w} (rows {@code 32 * blockFrom} up to {@code
   * min(32 * blockTo, rows)}) and every token {@code t < numTokens}: {@code y[yOff + t * yStride +
   * r] = sum_k W[r, k] * xt[k * numTokens + t]}, added to {@code y} when {@code accumulate}.
   */
  public static void gemm(PackedMatrix w, float[] xt, int numTokens, float[] y, int yOff, int yStride,
      int blockFrom, int blockTo, boolean accumulate) {
    float[] d = w.data;
    int cols = w.cols(), rows = w.rows();
    int b = blockFrom;
    for (; b + 2 <= blockTo; b += 2) {
      int t = 0;
      for (; t + 8 <= numTokens; t += 8) {
        k2x8(d, cols, b, xt, numTokens, t, y, yOff, yStride, rows, accumulate);
        k2x8(d, cols, b + 1, xt, numTokens, t, y, yOff, yStride, rows, accumulate);
      }
      for (; t + 4 <= numTokens; t += 4) k4x4(d, cols, b, xt, numTokens, t, y, yOff, yStride, rows, accumulate);
      for (; t < numTokens; t++) k4x1(d, cols, b, xt, numTokens, t, y, yOff, yStride, rows, accumulate);
    }
    for (; b < blockTo; b++) {
      int t = 0;
      for (; t + 8 <= numTokens; t += 8) k2x8(d, cols, b, xt, numTokens, t, y, yOff, yStride, rows, accumulate);
      for (; t < numTokens; t++) k2x1(d, cols, b, xt, numTokens, t, y, yOff, yStride, rows, accumulate);
    }
  }

  /** Writes (or adds) one panel's 16 results for one token; only the rows that exist. */
  private static void store(FloatVector acc, float[] y, int yOff, int yStride, int t, int panel, int rows, boolean accumulate) {
    int o = yOff + t * yStride + panel * P;
    int valid = rows - panel * P;
    if (valid >= P) {
      if (accumulate) acc = acc.add(FloatVector.fromArray(S, y, o));
      acc.intoArray(y, o);
    } else if (valid > 0) {
      float[] tmp = new float[P];
      acc.intoArray(tmp, 0);
      for (int i = 0; i < valid; i++) y[o + i] = accumulate ? y[o + i] + tmp[i] : tmp[i];
    }
  }

  /** Blocks b, b + 1 (panels 2b .. 2b + 3) x token t. */
  private static void k4x1(float[] d, int cols, int b, float[] xt, int T, int t, float[] y, int yOff, int yStride, int rows, boolean acc) {
    int o0 = b * cols * B, o1 = o0 + cols * B;
    FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
    for (int k = 0; k < cols; k++, o0 += B, o1 += B) {
      FloatVector x = FloatVector.broadcast(S, xt[k * T + t]);
      a0 = FloatVector.fromArray(S, d, o0).fma(x, a0);
      a1 = FloatVector.fromArray(S, d, o0 + P).fma(x, a1);
      a2 = FloatVector.fromArray(S, d, o1).fma(x, a2);
      a3 = FloatVector.fromArray(S, d, o1 + P).fma(x, a3);
    }
    int p = 2 * b;
    store(a0, y, yOff, yStride, t, p, rows, acc);
    store(a1, y, yOff, yStride, t, p + 1, rows, acc);
    store(a2, y, yOff, yStride, t, p + 2, rows, acc);
    store(a3, y, yOff, yStride, t, p + 3, rows, acc);
  }

  /** Block b (panels 2b, 2b + 1) x token t. */
  private static void k2x1(float[] d, int cols, int b, float[] xt, int T, int t, float[] y, int yOff, int yStride, int rows, boolean acc) {
    int o = b * cols * B;
    FloatVector a0 = FloatVector.zero(S), a1 = a0;
    for (int k = 0; k < cols; k++, o += B) {
      FloatVector x = FloatVector.broadcast(S, xt[k * T + t]);
      a0 = FloatVector.fromArray(S, d, o).fma(x, a0);
      a1 = FloatVector.fromArray(S, d, o + P).fma(x, a1);
    }
    store(a0, y, yOff, yStride, t, 2 * b, rows, acc);
    store(a1, y, yOff, yStride, t, 2 * b + 1, rows, acc);
  }

  /** Blocks b, b + 1 (panels 2b .. 2b + 3) x tokens t .. t + 3. */
  private static void k4x4(float[] d, int cols, int b, float[] xt, int T, int t, float[] y, int yOff, int yStride, int rows, boolean acc) {
    int o0 = b * cols * B, o1 = o0 + cols * B;
    FloatVector z = FloatVector.zero(S);
    FloatVector a00 = z, a01 = z, a02 = z, a03 = z, a10 = z, a11 = z, a12 = z, a13 = z;
    FloatVector a20 = z, a21 = z, a22 = z, a23 = z, a30 = z, a31 = z, a32 = z, a33 = z;
    for (int k = 0; k < cols; k++, o0 += B, o1 += B) {
      int xk = k * T + t;
      FloatVector x0 = FloatVector.broadcast(S, xt[xk]);
      FloatVector x1 = FloatVector.broadcast(S, xt[xk + 1]);
      FloatVector x2 = FloatVector.broadcast(S, xt[xk + 2]);
      FloatVector x3 = FloatVector.broadcast(S, xt[xk + 3]);
      FloatVector w = FloatVector.fromArray(S, d, o0);
      a00 = w.fma(x0, a00);
      a01 = w.fma(x1, a01);
      a02 = w.fma(x2, a02);
      a03 = w.fma(x3, a03);
      w = FloatVector.fromArray(S, d, o0 + P);
      a10 = w.fma(x0, a10);
      a11 = w.fma(x1, a11);
      a12 = w.fma(x2, a12);
      a13 = w.fma(x3, a13);
      w = FloatVector.fromArray(S, d, o1);
      a20 = w.fma(x0, a20);
      a21 = w.fma(x1, a21);
      a22 = w.fma(x2, a22);
      a23 = w.fma(x3, a23);
      w = FloatVector.fromArray(S, d, o1 + P);
      a30 = w.fma(x0, a30);
      a31 = w.fma(x1, a31);
      a32 = w.fma(x2, a32);
      a33 = w.fma(x3, a33);
    }
    int p = 2 * b;
    store(a00, y, yOff, yStride, t, p, rows, acc);
    store(a01, y, yOff, yStride, t + 1, p, rows, acc);
    store(a02, y, yOff, yStride, t + 2, p, rows, acc);
    store(a03, y, yOff, yStride, t + 3, p, rows, acc);
    store(a10, y, yOff, yStride, t, p + 1, rows, acc);
    store(a11, y, yOff, yStride, t + 1, p + 1, rows, acc);
    store(a12, y, yOff, yStride, t + 2, p + 1, rows, acc);
    store(a13, y, yOff, yStride, t + 3, p + 1, rows, acc);
    store(a20, y, yOff, yStride, t, p + 2, rows, acc);
    store(a21, y, yOff, yStride, t + 1, p + 2, rows, acc);
    store(a22, y, yOff, yStride, t + 2, p + 2, rows, acc);
    store(a23, y, yOff, yStride, t + 3, p + 2, rows, acc);
    store(a30, y, yOff, yStride, t, p + 3, rows, acc);
    store(a31, y, yOff, yStride, t + 1, p + 3, rows, acc);
    store(a32, y, yOff, yStride, t + 2, p + 3, rows, acc);
    store(a33, y, yOff, yStride, t + 3, p + 3, rows, acc);
  }

  /** Block b (panels 2b, 2b + 1) x tokens t .. t + 7: one sequential weight stream. */
  private static void k2x8(float[] d, int cols, int b, float[] xt, int T, int t, float[] y, int yOff, int yStride, int rows, boolean acc) {
    int o = b * cols * B;
    FloatVector z = FloatVector.zero(S);
    FloatVector a00 = z, a01 = z, a02 = z, a03 = z, a04 = z, a05 = z, a06 = z, a07 = z;
    FloatVector a10 = z, a11 = z, a12 = z, a13 = z, a14 = z, a15 = z, a16 = z, a17 = z;
    for (int k = 0; k < cols; k++, o += B) {
      int xk = k * T + t;
      FloatVector w0 = FloatVector.fromArray(S, d, o);
      FloatVector w1 = FloatVector.fromArray(S, d, o + P);
      FloatVector x = FloatVector.broadcast(S, xt[xk]);
      a00 = w0.fma(x, a00);
      a10 = w1.fma(x, a10);
      x = FloatVector.broadcast(S, xt[xk + 1]);
      a01 = w0.fma(x, a01);
      a11 = w1.fma(x, a11);
      x = FloatVector.broadcast(S, xt[xk + 2]);
      a02 = w0.fma(x, a02);
      a12 = w1.fma(x, a12);
      x = FloatVector.broadcast(S, xt[xk + 3]);
      a03 = w0.fma(x, a03);
      a13 = w1.fma(x, a13);
      x = FloatVector.broadcast(S, xt[xk + 4]);
      a04 = w0.fma(x, a04);
      a14 = w1.fma(x, a14);
      x = FloatVector.broadcast(S, xt[xk + 5]);
      a05 = w0.fma(x, a05);
      a15 = w1.fma(x, a15);
      x = FloatVector.broadcast(S, xt[xk + 6]);
      a06 = w0.fma(x, a06);
      a16 = w1.fma(x, a16);
      x = FloatVector.broadcast(S, xt[xk + 7]);
      a07 = w0.fma(x, a07);
      a17 = w1.fma(x, a17);
    }
    int p = 2 * b;
    store(a00, y, yOff, yStride, t, p, rows, acc);
    store(a01, y, yOff, yStride, t + 1, p, rows, acc);
    store(a02, y, yOff, yStride, t + 2, p, rows, acc);
    store(a03, y, yOff, yStride, t + 3, p, rows, acc);
    store(a04, y, yOff, yStride, t + 4, p, rows, acc);
    store(a05, y, yOff, yStride, t + 5, p, rows, acc);
    store(a06, y, yOff, yStride, t + 6, p, rows, acc);
    store(a07, y, yOff, yStride, t + 7, p, rows, acc);
    store(a10, y, yOff, yStride, t, p + 1, rows, acc);
    store(a11, y, yOff, yStride, t + 1, p + 1, rows, acc);
    store(a12, y, yOff, yStride, t + 2, p + 1, rows, acc);
    store(a13, y, yOff, yStride, t + 3, p + 1, rows, acc);
    store(a14, y, yOff, yStride, t + 4, p + 1, rows, acc);
    store(a15, y, yOff, yStride, t + 5, p + 1, rows, acc);
    store(a16, y, yOff, yStride, t + 6, p + 1, rows, acc);
    store(a17, y, yOff, yStride, t + 7, p + 1, rows, acc);
  }
}
