package io.prism.cuda;

import static io.prism.cuda.CudaCheck.check;

import io.prism.runtime.engine.ForwardBatch;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.model.ModelConfig;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.cuda.global.cudart;

/**
 * The captured decode-step CUDA graphs of one {@link CudaForwardBackend}: one {@link DecodeGraph}
 * per batch bucket (1, 2, 4 .. {@link #maxBucket()} sequences), captured on first use and replayed
 * for every later greedy decode step of that bucket (a smaller batch is padded up to its bucket).
 * The graphs hold virtual addresses only (weights, workspace, KV ranges), so they stay valid while
 * KV pages are mapped and unmapped; they are dropped ({@link #closeAll()}) when the weights move or
 * a kernel choice changes.
 *
 * <p>Threading: device thread only.
 */
final class DecodeGraphs {
  private final CudaContext ctx;
  private final DeviceWeights w;
  private final KvCache kv;
  private final ModelConfig c;
  private final StepWorkspace ws;
  private final Gemm gemm;
  private final ForwardKernels fk;
  private final int chunk;
  private long graphReplays;
  private final Map<Integer, DecodeGraph> decodeGraphs = new HashMap<>();

  DecodeGraphs(CudaContext ctx, DeviceWeights w, KvCache kv, StepWorkspace ws, Gemm gemm, ForwardKernels fk, int chunk) {
    this.ctx = ctx;
    this.w = w;
    this.kv = kv;
    this.c = w.config;
    this.ws = ws;
    this.gemm = gemm;
    this.fk = fk;
    this.chunk = chunk;
  }

  /** Decode steps served by a graph replay so far. */
  long replays() {
    return graphReplays;
  }

  /** Frees every captured graph (the caller synchronized the stream); the next decode steps capture again. */
  void closeAll() {
    for (DecodeGraph g : decodeGraphs.values()) g.close();
    decodeGraphs.clear();
  }

  /** Whether {@code b} is a greedy decode step a graph can serve: one token per entry, every entry wanting logits. */
  static boolean isDecode(ForwardBatch b) {
    for (ForwardBatch.Entry e : b.entries()) if (e.tokens().length != 1 || !e.wantLogits()) return false;
    return !b.entries().isEmpty();
  }

  /** The largest bucket: batches above it run without a graph. */
  int maxBucket() {
    return Math.min(CudaForwardBackend.LOGIT_ROWS, Integer.highestOneBit(chunk));
  }

  /**
   * Runs one greedy decode step of {@code es} (already validated; one token per entry, every entry
   * wanting logits, at most {@link #maxBucket()} entries) by replaying the graph of the smallest
   * bucket that holds it, capturing that graph first if needed; {@code next[i]} receives entry i's
   * argmax.
   *
   * @throws io.prism.runtime.memory.DeviceException if capture or launch fails
   */
  void replay(List<ForwardBatch.Entry> es, int[] next) {
    ctx.makeCurrent();
    ctx.kernels.pdlLate(fk.pdlLate);
    int n = es.size();
    int bucket = Math.max(1, Integer.highestOneBit(n - 1) << 1);
    if (n == 1) bucket = 1;
    DecodeGraph g = decodeGraphs.get(bucket);
    if (g == null) {
      g = captureDecode(bucket);
      decodeGraphs.put(bucket, g);
    }
    ByteBuffer m = g.meta;
    int bs = kv.blockSize(), kvDimBytes = (int) fk.slotStride();
    for (int i = 0; i < n; i++) {
      ForwardBatch.Entry e = es.get(i);
      int pos = e.startPos();
      int[] table = e.blockTable();
      int nb = pos / bs + 1;
      int tab = g.oTab() + 4 * i * g.tableStride;
      for (int b = 0; b < nb; b++) m.putInt(tab + 4 * b, table[b]);
      m.putLong(8 * i, kv.blockOffsetBytes(table[pos / bs]) + (long) (pos % bs) * kvDimBytes);
      m.putInt(g.oTok() + 4 * i, e.tokens()[0]);
      m.putInt(g.oPos() + 4 * i, pos);
      m.putInt(g.oTs() + 4 * i, i * g.tableStride);
    }
    for (int i = n; i < bucket; i++) g.padding(i);
    g.launch();
    for (int i = 0; i < n; i++) next[i] = g.out.getInt(4 * i);
    graphReplays++;
  }

  /** Tunes this bucket's GEMM shapes, then captures one decode step of {@code bucket} rows into a new graph. */
  private DecodeGraph captureDecode(int bucket) {
    int bs = kv.blockSize();
    int stride = Math.min(kv.maxBlocks(), (c.maxSeqLen() + bs - 1) / bs);
    int groups = c.numHeads() / ForwardKernels.headsPerBlock(c.kvGroupSize());
    int splits = ws.splits(bucket, groups, c.maxSeqLen() - 1, ctx.multiprocessors);
    ctx.synchronize();
    // GEMM shapes of this bucket tuned before capture (cuBLASLt search synchronizes)
    // quantized matrices: GEMVs up to QuantGemv.denseMinTokens() rows, else cuBLAS over the dequantised scratch
    boolean cublas = !w.quantized() || (ws.dense != 0 && bucket >= QuantGemv.denseMinTokens());
    if (cublas) {
      gemm.prepare(w.quantized() ? ws.dense : w.wqkv[0], ws.xb, c.qDim() + 2 * c.kvDim(), c.dim(), bucket);
      gemm.prepare(w.quantized() ? ws.dense : w.wo[0], ws.xb, c.dim(), c.qDim(), bucket);
      gemm.prepare(w.quantized() ? ws.dense : w.w13[0], ws.xb, 2 * c.hiddenDim(), c.dim(), bucket);
      gemm.prepare(w.quantized() ? ws.dense : w.w2[0], ws.hb, c.dim(), c.hiddenDim(), bucket);
    }
    if (w.classifierType == null) gemm.prepare(w.classifier, ws.xl, c.vocabSize(), c.dim(), bucket);
    DecodeGraph g = DecodeGraph.allocate(ctx, bucket, stride, splits);
    gemm.capturing = true;
    try {
      long d = g.metaDev;
      g.capture(() -> {
        ctx.kernels.foreign(); // the metadata copy
        boolean f = fk.fusedStep(bucket);
        fk.layers(bucket, true, d, d + g.oTok(), d + g.oPos(), d + g.oTs(), d + g.oTab(), splits);
        fk.classifier(d + g.oRows(), bucket, true, f);
        check("cuMemcpyDtoHAsync(graph argmax)", cudart.cuMemcpyDtoHAsync(g.outPinned, ws.argmax, 4L * bucket, ctx.stream));
        ctx.kernels.foreign();
      });
    } catch (RuntimeException e) {
      g.close();
      throw e;
    } finally {
      gemm.capturing = false;
    }
    return g;
  }
}
