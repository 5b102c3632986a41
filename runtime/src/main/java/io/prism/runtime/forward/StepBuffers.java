package io.prism.runtime.forward;

import io.prism.runtime.model.ModelConfig;

/**
 * The activations of one {@link HostForwardBackend} step, row-major {@code [tokens, width]} over
 * the {@code T} tokens of the whole step, grown on demand (to at least twice the old capacity) and
 * reused, so a step of no more tokens and rows than an earlier one allocates nothing. Also the
 * transposed GEMM input ({@link #gemmInput}): {@link PackedGemm} reads its input with tokens
 * innermost.
 *
 * <p>Threading: grown and transposed on the engine thread between parallel sections; the pool's
 * workers write disjoint rows or columns of the arrays inside a section.
 */
final class StepBuffers {
  private final int dim;
  private final int qDim;
  private final int kvDim;
  private final int hidden;
  private final int halfHead;
  private int capTokens;
  float[] x; // [T, dim] residual stream
  float[] xb; // [T, dim] normed input / attention output
  float[] q; // [T, qDim]
  float[] att; // [T, qDim] attention output
  float[] k; // [T, kvDim]
  float[] v; // [T, kvDim]
  float[] hb; // [T, hidden]
  float[] hb2; // [T, hidden]
  private float[] xt; // [max(dim, qDim, hidden), T] the current GEMM input, tokens innermost
  float[] cos; // [T, headDim / 2]
  float[] sin; // [T, headDim / 2]
  int[] pos; // [T] position of each token
  int[] entryOf; // [T] entry index of each token
  float[] logits = new float[0]; // [R, vocab], R = entries that want logits
  float[] finalX = new float[0]; // [R, dim]

  StepBuffers(ModelConfig c) {
    this.dim = c.dim();
    this.qDim = c.qDim();
    this.kvDim = c.kvDim();
    this.hidden = c.hiddenDim();
    this.halfHead = c.headDim() / 2;
  }

  /** Makes every per-token array hold at least {@code T} tokens. */
  void ensureTokens(int T) {
    if (T <= capTokens) return;
    int cap = Math.max(T, capTokens * 2);
    x = new float[cap * dim];
    xb = new float[cap * dim];
    q = new float[cap * qDim];
    att = new float[cap * qDim];
    k = new float[cap * kvDim];
    v = new float[cap * kvDim];
    hb = new float[cap * hidden];
    hb2 = new float[cap * hidden];
    xt = new float[cap * Math.max(Math.max(dim, qDim), hidden)];
    cos = new float[cap * halfHead];
    sin = new float[cap * halfHead];
    pos = new int[cap];
    entryOf = new int[cap];
    capTokens = cap;
  }

  /** Makes {@link #finalX} and {@link #logits} hold at least {@code rows} rows ({@code vocab} logits each). */
  void ensureLogitRows(int rows, int vocab) {
    if (finalX.length < rows * dim) finalX = new float[rows * dim];
    if (logits.length < (long) rows * vocab) logits = new float[rows * vocab];
  }

  /**
   * The GEMM input for {@code T} tokens of width {@code cols} in {@code a} ({@code [T, cols]}):
   * {@code a} itself for one token, else its transpose {@code [cols, T]} in a reused buffer, valid
   * until the next call.
   */
  float[] gemmInput(float[] a, int T, int cols) {
    if (T == 1) return a;
    if (xt.length < T * cols) xt = new float[T * cols];
    PackedGemm.transpose(a, 0, cols, T, cols, xt);
    return xt;
  }
}
