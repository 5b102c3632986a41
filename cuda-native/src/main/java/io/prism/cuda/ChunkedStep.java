package io.prism.cuda;

import static io.prism.cuda.CudaCheck.check;

import io.prism.runtime.engine.ForwardBatch;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.sampling.LogitAdjustment;
import io.prism.runtime.sampling.TokenLogprobs;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.cuda.global.cudart;

/**
 * The direct (not graph-replayed) step path of {@link CudaForwardBackend}: validates a batch, cuts
 * it into chunks of at most {@code chunk} tokens in position order (a later chunk finds the
 * earlier chunk's K and V already written), writes each chunk's metadata into the pinned buffer and
 * copies it to the device in one HtoD copy, runs {@link ForwardKernels}, and brings the logits rows
 * (float32, {@code vocab} per row) or their argmax ids back to the host.
 *
 * <p>Chunk metadata layout (bytes, little-endian):
 * <pre>
 *   [kvOff long T][tokens int T][pos int T][tableStart int T][rows int R][tables int ...]
 * </pre>
 * Threading: device thread only.
 */
final class ChunkedStep {
  private final CudaContext ctx;
  private final KvCache kv;
  private final ModelConfig c;
  private final StepWorkspace ws;
  private final ForwardKernels fk;
  private final int chunk;

  ChunkedStep(CudaContext ctx, DeviceWeights w, KvCache kv, StepWorkspace ws, ForwardKernels fk, int chunk) {
    this.ctx = ctx;
    this.kv = kv;
    this.c = w.config;
    this.ws = ws;
    this.fk = fk;
    this.chunk = chunk;
  }

  /**
   * Runs {@code es} (already validated) in chunks of at most {@code chunk} tokens, in order.
   * Exactly one of {@code logits} (rows of {@code vocab} floats, filled for entries wanting logits)
   * and {@code next} (argmax per such entry) is not null.
   *
   * @throws io.prism.runtime.memory.DeviceException if a driver or cuBLAS call fails
   */
  void run(List<ForwardBatch.Entry> es, float[][] logits, int[] next) {
    run(es, logits, next, null);
  }

  /**
   * As {@link #run(List, float[][], int[])}; with {@code sampling} and {@code next}, each row gets its
   * bias and penalties, {@code next} gets tokens sampled on the device and {@code sampling.logprobs}
   * the log probabilities asked for.
   */
  void run(List<ForwardBatch.Entry> es, float[][] logits, int[] next, SampledRows sampling) {
    this.sampling = sampling;
    ctx.makeCurrent();
    ctx.kernels.pdlLate(fk.pdlLate);
    // cut the entries into chunks of <= chunk tokens, in order
    List<Piece> pieces = new ArrayList<>();
    int used = 0;
    for (int e = 0; e < es.size(); e++) {
      ForwardBatch.Entry en = es.get(e);
      int from = 0, n = en.tokens().length;
      while (from < n) {
        if (used == chunk) {
          runChunk(es, pieces, logits, next);
          pieces.clear();
          used = 0;
        }
        int take = Math.min(n - from, chunk - used);
        pieces.add(new Piece(e, from, from + take));
        used += take;
        from += take;
      }
    }
    if (!pieces.isEmpty()) runChunk(es, pieces, logits, next);
  }

  /**
   * Checks every entry against the model and the KV cache.
   *
   * @throws IllegalArgumentException naming the entry: no tokens, positions outside the context,
   *     a block table too short or with ids outside the cache, a token outside the vocabulary
   */
  void validate(List<ForwardBatch.Entry> es) {
    int bs = kv.blockSize();
    for (int i = 0; i < es.size(); i++) {
      ForwardBatch.Entry e = es.get(i);
      if (e.tokens().length == 0) throw new IllegalArgumentException("entry " + i + " has no tokens");
      int end = e.startPos() + e.tokens().length;
      if (e.startPos() < 0 || end > c.maxSeqLen()) {
        throw new IllegalArgumentException("entry " + i + ": positions [" + e.startPos() + ", " + end + ") outside [0, " + c.maxSeqLen() + ")");
      }
      int need = (end + bs - 1) / bs;
      if (e.blockTable().length < need) {
        throw new IllegalArgumentException("entry " + i + ": block table has " + e.blockTable().length + " blocks, needs " + need);
      }
      for (int b = 0; b < need; b++) {
        int id = e.blockTable()[b];
        if (id < 0 || id >= kv.maxBlocks()) throw new IllegalArgumentException("entry " + i + ": block id " + id + " outside [0, " + kv.maxBlocks() + ")");
      }
      for (int t : e.tokens()) {
        if (t < 0 || t >= c.vocabSize()) throw new IllegalArgumentException("entry " + i + ": token " + t + " outside [0, " + c.vocabSize() + ")");
      }
    }
  }

  private SampledRows sampling;

  private record Piece(int entry, int from, int to) {}

  /**
   * Copies the bias and penalties of rows {@code [g, g + n)} to the device and applies them ({@code
   * adjust_logits}). Layout: {@code [starts n + 1 ints][tokens E ints][pad to 16][coef E float4]}.
   */
  private void adjust(int[] rowEntry, int g, int n, int entries) {
    long oTok = 4L * (n + 1), oCoef = (oTok + 4L * entries + 15) & ~15L;
    long bytes = oCoef + 16L * entries;
    ws.ensureAdjust(ctx, bytes);
    ByteBuffer b = ws.adjustHost;
    int at = 0;
    for (int i = 0; i < n; i++) {
      b.putInt(4 * i, at);
      LogitAdjustment a = sampling.adjustment(rowEntry[g + i]);
      if (a == null) continue;
      for (int k = 0; k < a.size(); k++, at++) {
        b.putInt((int) (oTok + 4L * at), a.token(k));
        long c = oCoef + 16L * at;
        b.putFloat((int) c, a.pre(k));
        b.putFloat((int) c + 4, a.scalePositive(k));
        b.putFloat((int) c + 8, a.scaleNegative(k));
        b.putFloat((int) c + 12, a.post(k));
      }
    }
    b.putInt(4 * n, at);
    check("cuMemcpyHtoDAsync(adjustments)", cudart.cuMemcpyHtoDAsync(ws.adjust, ws.adjustPinned, bytes, ctx.stream));
    fk.adjustRows(ws.adjust, ws.adjust + oTok, ws.adjust + oCoef, n);
  }

  /** Reads rows {@code [g, g + n)} of the copied-back log probabilities into {@code sampling.logprobs}. */
  private void readLogprobs(int[] rowEntry, int g, int n, int[] next) {
    int max = io.prism.runtime.sampling.SamplingParams.MAX_TOP_LOGPROBS;
    for (int i = 0; i < n; i++) {
      int e = rowEntry[g + i];
      int k = sampling.topLogprobs[e];
      if (k < 0) continue;
      int base = 4 * StepWorkspace.LOGPROB_STRIDE * i;
      int[] ids = new int[k];
      float[] lps = new float[k];
      for (int j = 0; j < k; j++) {
        ids[j] = ws.logprobsHost.getInt(base + 4 * (1 + j));
        lps[j] = Math.min(0f, ws.logprobsHost.getFloat(base + 4 * (1 + max + j)));
      }
      sampling.logprobs[e] = new TokenLogprobs(next[e], Math.min(0f, ws.logprobsHost.getFloat(base)), ids, lps);
    }
  }

  private void runChunk(List<ForwardBatch.Entry> es, List<Piece> pieces, float[][] logits, int[] next) {
    int bs = kv.blockSize();
    int T = 0, tableInts = 0, rows = 0;
    for (Piece pc : pieces) {
      ForwardBatch.Entry e = es.get(pc.entry);
      T += pc.to - pc.from;
      tableInts += (e.startPos() + pc.to + bs - 1) / bs;
      if (pc.to == e.tokens().length && e.wantLogits()) rows++;
    }
    // host meta: [kvOff long T][tokens T][pos T][tableStart T][rows R][tables]
    ws.ensureMeta(ctx, 8L * T + 4L * (3L * T + rows + tableInts));
    ctx.synchronize(); // the previous chunk's copy out of the pinned buffer is done
    ByteBuffer m = ws.metaHost;
    m.clear();
    int oTok = 8 * T, oPos = oTok + 4 * T, oTs = oPos + 4 * T, oRows = oTs + 4 * T, oTab = oRows + 4 * rows;
    int[] rowEntry = new int[rows];
    int t = 0, r = 0, tab = 0;
    int kvDimBytes = (int) fk.slotStride();
    int maxPos = 0;
    for (Piece pc : pieces) {
      ForwardBatch.Entry e = es.get(pc.entry);
      int[] table = e.blockTable();
      int nb = (e.startPos() + pc.to + bs - 1) / bs;
      for (int b = 0; b < nb; b++) m.putInt(oTab + 4 * (tab + b), table[b]);
      for (int i = pc.from; i < pc.to; i++, t++) {
        int pos = e.startPos() + i;
        maxPos = Math.max(maxPos, pos);
        m.putLong(8 * t, kv.blockOffsetBytes(table[pos / bs]) + (long) (pos % bs) * kvDimBytes);
        m.putInt(oTok + 4 * t, e.tokens()[i]);
        m.putInt(oPos + 4 * t, pos);
        m.putInt(oTs + 4 * t, tab);
      }
      tab += nb;
      if (pc.to == e.tokens().length && e.wantLogits()) {
        m.putInt(oRows + 4 * r, t - 1);
        rowEntry[r++] = pc.entry;
      }
    }
    long metaBytes = oTab + 4L * tab;
    check("cuMemcpyHtoDAsync(meta)", cudart.cuMemcpyHtoDAsync(ws.meta, ws.metaPinned, metaBytes, ctx.stream));
    ctx.kernels.foreign();
    long dKvOff = ws.meta, dTok = ws.meta + oTok, dPos = ws.meta + oPos, dTs = ws.meta + oTs, dRows = ws.meta + oRows, dTab = ws.meta + oTab;

    int groups = c.numHeads() / ForwardKernels.headsPerBlock(c.kvGroupSize());
    boolean decode = T == pieces.size();
    for (Piece pc : pieces) decode &= pc.to - pc.from == 1;
    fk.layers(T, decode, dKvOff, dTok, dPos, dTs, dTab, ws.splits(T, groups, maxPos, ctx.multiprocessors));
    try {
      logitsRows(rows, dRows, rowEntry, logits, next, fk.fusedStep(T));
    } finally {
      if (fk.profiler != null) fk.profiler.collect();
    }
  }

  private void logitsRows(int rows, long dRows, int[] rowEntry, float[][] logits, int[] next, boolean fusedRow) {

    int vocab = c.vocabSize();
    fk.mark("logits");
    for (int g = 0; g < rows; g += CudaForwardBackend.LOGIT_ROWS) {
      int n = Math.min(CudaForwardBackend.LOGIT_ROWS, rows - g);
      fk.classifier(dRows + 4L * g, n, next != null && sampling == null, fusedRow);
      int topN = -1;
      if (next != null && sampling != null) {
        // params (8 floats per row) into the pinned buffer (idle: the last copy out was synchronised),
        // then into xl (free once the classifier GEMM has read it: stream order)
        int entries = 0;
        for (int i = 0; i < n; i++) {
          int e = rowEntry[g + i];
          for (int k = 0; k < 8; k++) ws.logitsHost.putFloat(32 * i + 4 * k, sampling.params[8 * e + k]);
          LogitAdjustment a = sampling.adjustment(e);
          if (a != null) entries += a.size();
          topN = Math.max(topN, sampling.topLogprobs[e]);
        }
        ctx.kernels.foreign();
        check("cuMemcpyHtoDAsync(sampling)", cudart.cuMemcpyHtoDAsync(ws.xl, ws.logitsPinned, 32L * n, ctx.stream));
        if (entries > 0) adjust(rowEntry, g, n, entries);
        fk.sampleRows(ws.xl, n);
        if (topN >= 0) fk.logprobRows(ws.xl, n, topN);
      }
      ctx.kernels.foreign(); // the copies below
      if (next != null) {
        check("cuMemcpyDtoHAsync(argmax)", cudart.cuMemcpyDtoHAsync(ws.logitsPinned, ws.argmax, 4L * n, ctx.stream));
        if (topN >= 0) {
          check("cuMemcpyDtoHAsync(logprobs)", cudart.cuMemcpyDtoHAsync(ws.logprobsPinned, ws.logprobs, 4L * StepWorkspace.LOGPROB_STRIDE * n, ctx.stream));
        }
        ctx.synchronize();
        for (int i = 0; i < n; i++) next[rowEntry[g + i]] = ws.logitsHost.getInt(4 * i);
        if (topN >= 0) readLogprobs(rowEntry, g, n, next);
      } else {
        check("cuMemcpyDtoHAsync(logits)", cudart.cuMemcpyDtoHAsync(ws.logitsPinned, ws.logits, 4L * n * vocab, ctx.stream));
        ctx.synchronize();
        java.nio.FloatBuffer fb = ws.logitsHost.asFloatBuffer();
        for (int i = 0; i < n; i++) {
          fb.position(i * vocab);
          fb.get(logits[rowEntry[g + i]], 0, vocab);
        }
      }
    }
  }
}
