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
 * <p>Input layout ({@link #transpose}): the tokens in groups as the tiles take them (8 at a time,
 * then one group of 4 if at least 4 are left, then single tokens), each group stored column-major
 * so that a tile reads one sequential stream: token {@code t} of the group starting at token {@code
 * t0} with {@code g} tokens, column {@code k}, is {@code xt[t0 * cols + k * g + (t - t0)]}. With
 * fewer than 4 tokens that is just {@code x} row-major. Stateless and thread-safe; threads must write disjoint panels.
 */
public final class PackedGemm {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int P = PackedMatrix.PANEL;
  private static final int B = PackedMatrix.BLOCK;

  static {
    if (S.length() != P) throw new IllegalStateException("PackedMatrix.PANEL " + P + " != vector length " + S.length());
  }

  private PackedGemm() {}

  /** Size of the token group starting at {@code t} (of {@code numTokens}): 8, then 4, then 1. */
  static int groupSize(int t, int numTokens) {
    int left = numTokens - t;
    return left >= 8 ? 8 : left >= 4 ? 4 : 1;
  }

  /**
   * Lays out {@code numTokens} rows {@code x[xOff + t * xStride + k]} ({@code k < cols}) in the
   * grouped column-major input layout of the class comment.
   */
  public static void transpose(float[] x, int xOff, int xStride, int numTokens, int cols, float[] xt) {
    for (int t0 = 0; t0 < numTokens; ) {
      int g = groupSize(t0, numTokens);
      for (int j = 0; j < g; j++) {
        int src = xOff + (t0 + j) * xStride, dst = t0 * cols + j;
        for (int k = 0; k < cols; k++) xt[dst + k * g] = x[src + k];
      }
      t0 += g;
    }
  }

  /**
   * For blocks {@code [blockFrom, blockTo)} of {@code w} (rows {@code 32 * blockFrom} up to {@code
   * min(32 * blockTo, rows)}) and every token {@code t < numTokens}: {@code y[yOff + t * yStride +
   * r] = sum_k W[r, k] * x[t, k]}, added to {@code y} when {@code accumulate}; {@code xt} in the
   * input layout of {@link #transpose}.
   */
  public static void gemm(PackedMatrix w, float[] xt, int numTokens, float[] y, int yOff, int yStride,
      int blockFrom, int blockTo, boolean accumulate) {
    float[] d = w.data;
    int cols = w.cols(), rows = w.rows();
    float[] tile = new float[16 * P]; // a tile's results on their way to y
    int b = blockFrom;
    for (; b + 2 <= blockTo; b += 2) {
      for (int t = 0; t < numTokens; ) {
        int g = groupSize(t, numTokens);
        int xb = t * cols;
        if (g == 8) {
          k2x8(d, cols, b, xt, xb, y, yOff, yStride, t, rows, accumulate, tile);
          k2x8(d, cols, b + 1, xt, xb, y, yOff, yStride, t, rows, accumulate, tile);
        } else if (g == 4) {
          k4x4(d, cols, b, xt, xb, y, yOff, yStride, t, rows, accumulate, tile);
        } else {
          k4x1(d, cols, b, xt, xb, 1, y, yOff, yStride, t, rows, accumulate, tile);
        }
        t += g;
      }
    }
    for (; b < blockTo; b++) {
      for (int t = 0; t < numTokens; ) {
        int g = groupSize(t, numTokens);
        int xb = t * cols;
        if (g == 8) {
          k2x8(d, cols, b, xt, xb, y, yOff, yStride, t, rows, accumulate, tile);
        } else {
          for (int j = 0; j < g; j++) k2x1(d, cols, b, xt, xb + j, g, y, yOff, yStride, t + j, rows, accumulate, tile);
        }
        t += g;
      }
    }
  }

  /**
   * Writes (or adds) the results of a tile held in {@code tile} ({@code tile[(ti * panels + pi) *
   * 16 + lane]} for token {@code t + ti}, panel {@code p + pi}) to {@code y}; only rows that exist.
   * Kernels park their accumulators in {@code tile} rather than passing vectors to a method, which
   * C2 may not inline into a large kernel and would then box.
   */
  private static void flush(float[] tile, int tokens, int panels, float[] y, int yOff, int yStride, int t, int p, int rows, boolean accumulate) {
    for (int ti = 0; ti < tokens; ti++) {
      for (int pi = 0; pi < panels; pi++) {
        int o = yOff + (t + ti) * yStride + (p + pi) * P;
        int valid = rows - (p + pi) * P;
        int src = (ti * panels + pi) * P;
        if (valid >= P) {
          FloatVector acc = FloatVector.fromArray(S, tile, src);
          if (accumulate) acc = acc.add(FloatVector.fromArray(S, y, o));
          acc.intoArray(y, o);
        } else {
          for (int i = 0; i < valid; i++) y[o + i] = accumulate ? y[o + i] + tile[src + i] : tile[src + i];
        }
      }
    }
  }

  /** Blocks b, b + 1 (panels 2b .. 2b + 3) x token t. */
  private static void k4x1(float[] d, int cols, int b, float[] xt, int xb, int xs, float[] y, int yOff, int yStride, int t, int rows, boolean acc, float[] tile) {
    int o0 = b * cols * B, o1 = o0 + cols * B;
    FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
    for (int k = 0; k < cols; k++, o0 += B, o1 += B) {
      FloatVector x = FloatVector.broadcast(S, xt[xb + k * xs]);
      a0 = FloatVector.fromArray(S, d, o0).fma(x, a0);
      a1 = FloatVector.fromArray(S, d, o0 + P).fma(x, a1);
      a2 = FloatVector.fromArray(S, d, o1).fma(x, a2);
      a3 = FloatVector.fromArray(S, d, o1 + P).fma(x, a3);
    }
    int p = 2 * b;
    a0.intoArray(tile, 0);
    a1.intoArray(tile, 1 * P);
    a2.intoArray(tile, 2 * P);
    a3.intoArray(tile, 3 * P);
    flush(tile, 1, 4, y, yOff, yStride, t, p, rows, acc);
  }

  /** Block b (panels 2b, 2b + 1) x token t. */
  private static void k2x1(float[] d, int cols, int b, float[] xt, int xb, int xs, float[] y, int yOff, int yStride, int t, int rows, boolean acc, float[] tile) {
    int o = b * cols * B;
    FloatVector a0 = FloatVector.zero(S), a1 = a0;
    for (int k = 0; k < cols; k++, o += B) {
      FloatVector x = FloatVector.broadcast(S, xt[xb + k * xs]);
      a0 = FloatVector.fromArray(S, d, o).fma(x, a0);
      a1 = FloatVector.fromArray(S, d, o + P).fma(x, a1);
    }
    a0.intoArray(tile, 0);
    a1.intoArray(tile, 1 * P);
    flush(tile, 1, 2, y, yOff, yStride, t, 2 * b, rows, acc);
  }

  /** Blocks b, b + 1 (panels 2b .. 2b + 3) x tokens t .. t + 3. */
  private static void k4x4(float[] d, int cols, int b, float[] xt, int xb, float[] y, int yOff, int yStride, int t, int rows, boolean acc, float[] tile) {
    int o0 = b * cols * B, o1 = o0 + cols * B;
    FloatVector z = FloatVector.zero(S);
    FloatVector a00 = z, a01 = z, a02 = z, a03 = z, a10 = z, a11 = z, a12 = z, a13 = z;
    FloatVector a20 = z, a21 = z, a22 = z, a23 = z, a30 = z, a31 = z, a32 = z, a33 = z;
    for (int k = 0; k < cols; k++, o0 += B, o1 += B) {
      int xk = xb + 4 * k;
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
    a00.intoArray(tile, 0);
    a01.intoArray(tile, 4 * P);
    a02.intoArray(tile, 8 * P);
    a03.intoArray(tile, 12 * P);
    a10.intoArray(tile, 1 * P);
    a11.intoArray(tile, 5 * P);
    a12.intoArray(tile, 9 * P);
    a13.intoArray(tile, 13 * P);
    a20.intoArray(tile, 2 * P);
    a21.intoArray(tile, 6 * P);
    a22.intoArray(tile, 10 * P);
    a23.intoArray(tile, 14 * P);
    a30.intoArray(tile, 3 * P);
    a31.intoArray(tile, 7 * P);
    a32.intoArray(tile, 11 * P);
    a33.intoArray(tile, 15 * P);
    flush(tile, 4, 4, y, yOff, yStride, t, p, rows, acc);
  }

  /** Block b (panels 2b, 2b + 1) x tokens t .. t + 7: one sequential weight stream. */
  private static void k2x8(float[] d, int cols, int b, float[] xt, int xb, float[] y, int yOff, int yStride, int t, int rows, boolean acc, float[] tile) {
    int o = b * cols * B;
    FloatVector z = FloatVector.zero(S);
    FloatVector a00 = z, a01 = z, a02 = z, a03 = z, a04 = z, a05 = z, a06 = z, a07 = z;
    FloatVector a10 = z, a11 = z, a12 = z, a13 = z, a14 = z, a15 = z, a16 = z, a17 = z;
    for (int k = 0; k < cols; k++, o += B) {
      int xk = xb + 8 * k;
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
    a00.intoArray(tile, 0);
    a01.intoArray(tile, 2 * P);
    a02.intoArray(tile, 4 * P);
    a03.intoArray(tile, 6 * P);
    a04.intoArray(tile, 8 * P);
    a05.intoArray(tile, 10 * P);
    a06.intoArray(tile, 12 * P);
    a07.intoArray(tile, 14 * P);
    a10.intoArray(tile, 1 * P);
    a11.intoArray(tile, 3 * P);
    a12.intoArray(tile, 5 * P);
    a13.intoArray(tile, 7 * P);
    a14.intoArray(tile, 9 * P);
    a15.intoArray(tile, 11 * P);
    a16.intoArray(tile, 13 * P);
    a17.intoArray(tile, 15 * P);
    flush(tile, 8, 2, y, yOff, yStride, t, p, rows, acc);
  }
}
