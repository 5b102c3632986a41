package io.prism.runtime.forward;

import io.prism.runtime.engine.ForwardBatch;
import io.prism.runtime.model.ModelConfig;
import java.util.Arrays;
import java.util.List;

/**
 * The attention of {@link HostForwardBackend} over a paged KV cache of float32 host pages: writing
 * a step's K and V rows into their slots, and causal softmax attention of one token's heads over
 * its sequence's blocks. A KV block holds {@code blockSize} token rows of {@code kvDim} floats
 * (token-major), block {@code b} at float {@code (b % blocksPerPage) * blockSize * kvDim} of page
 * {@code b / blocksPerPage} of each layer's K and V ranges.
 *
 * <p>Threading: {@link #attend} may run on the pool's workers at once, each with its own {@code
 * worker} index (its scratch); {@link #writeKv} on the calling thread before them.
 */
final class PagedAttention {
  private final int qDim;
  private final int kvDim;
  private final int headDim;
  private final int group;
  private final int blockSize;
  private final int blocksPerPage;
  private final float scale; // 1 / sqrt(headDim)
  private final int attStride; // maxSeqLen + 16: dotRows may write up to 16 past the last score
  private final float[][] scores; // [threads][numHeads * attStride]
  private final float[][] dotScratch; // [threads][256]
  private final int[] touchSink; // [threads] keeps HostKernels.touch's loads alive

  PagedAttention(ModelConfig c, int blockSize, int blocksPerPage, int threads) {
    this.qDim = c.qDim();
    this.kvDim = c.kvDim();
    this.headDim = c.headDim();
    this.group = c.kvGroupSize();
    this.blockSize = blockSize;
    this.blocksPerPage = blocksPerPage;
    this.scale = 1f / (float) Math.sqrt(headDim);
    this.attStride = c.maxSeqLen() + 16;
    this.scores = new float[threads][c.numHeads() * attStride];
    this.dotScratch = new float[threads][256];
    this.touchSink = new int[threads];
  }

  /** Copies token {@code t}'s K and V rows ({@code k, v: [T, kvDim]}) into the slot of its position, for {@code t < T}. */
  void writeKv(List<ForwardBatch.Entry> entries, int[] entryOf, int[] pos, int T, float[] k, float[] v, float[][] kPages, float[][] vPages) {
    for (int t = 0; t < T; t++) {
      int[] table = entries.get(entryOf[t]).blockTable();
      int p = pos[t];
      int block = table[p / blockSize];
      int off = ((block % blocksPerPage) * blockSize + p % blockSize) * kvDim;
      int page = block / blocksPerPage;
      System.arraycopy(k, t * kvDim, kPages[page], off, kvDim);
      System.arraycopy(v, t * kvDim, vPages[page], off, kvDim);
    }
  }

  /**
   * Attention of token {@code t} (at position {@code position}, block table {@code table}) for
   * heads {@code [hFrom, hTo)}: reads its queries from {@code q: [T, qDim]} and writes those heads'
   * slices of {@code att: [T, qDim]}. Block-major: each KV block is visited once for all the heads
   * (and first read sequentially, {@link HostKernels#touch}), so its rows come into the cache once
   * per token rather than once per head.
   */
  void attend(int[] table, int position, int t, int hFrom, int hTo, float[] q, float[][] kPages, float[][] vPages, float[] att, int worker) {
    float[] sc = scores[worker], scratch = dotScratch[worker];
    int touched = 0;
    int n = position + 1;
    for (int start = 0, b = 0; start < n; start += blockSize, b++) {
      int block = table[b];
      float[] page = kPages[block / blocksPerPage];
      int base = (block % blocksPerPage) * blockSize * kvDim;
      int rows = Math.min(n - start, blockSize);
      touched ^= HostKernels.touch(page, base, rows * kvDim);
      for (int h = hFrom; h < hTo; h++) {
        HostKernels.dotRows(q, t * qDim + h * headDim, page, base + (h / group) * headDim, kvDim, rows, blockSize, headDim, scale,
            sc, (h - hFrom) * attStride + start, scratch);
      }
    }
    for (int h = hFrom; h < hTo; h++) {
      HostKernels.softmax(sc, (h - hFrom) * attStride, n);
      Arrays.fill(att, t * qDim + h * headDim, t * qDim + (h + 1) * headDim, 0f);
    }
    for (int start = 0, b = 0; start < n; start += blockSize, b++) {
      int block = table[b];
      float[] page = vPages[block / blocksPerPage];
      int base = (block % blocksPerPage) * blockSize * kvDim;
      int rows = Math.min(n - start, blockSize);
      touched ^= HostKernels.touch(page, base, rows * kvDim);
      for (int h = hFrom; h < hTo; h++) {
        HostKernels.accumulateRows(sc, (h - hFrom) * attStride + start, rows, page, base + (h / group) * headDim, kvDim, headDim,
            att, t * qDim + h * headDim);
      }
    }
    touchSink[worker] ^= touched;
  }
}
