package io.prism.cuda;

import static io.prism.cuda.CudaCheck.check;

import io.prism.runtime.engine.ForwardBackend;
import io.prism.runtime.engine.ForwardBatch;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.model.ModelConfig;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.cuda.global.cudart;

/**
 * The Llama forward pass on one CUDA device over a paged {@link KvCache} in VMM-backed pages.
 *
 * <p>One step, for a chunk of at most {@code maxChunkTokens} tokens (a larger batch is cut into
 * chunks in position order, so a later chunk finds the earlier chunk's K and V already written):
 * <pre>
 *   meta (tokens, positions, KV slot offsets, block tables) --one HtoD copy--> device
 *   x = embed(tokens)                                    x: [T, dim] f32 (residual stream)
 *   per layer:
 *     xb   = rmsnorm(x) * attnNorm                       xb: [T, dim] W
 *     qkv  = xb wqkv^T                 (cuBLAS)          qkv: [T, dim + 2 kvDim] f32
 *     rope(q, k); K, V -> their cache slots              KV: bf16 or f32 pages
 *     xb   = attention(q, paged K, V)  (split-K + merge) xb: [T, dim] W
 *     x   += xb wo^T                   (cuBLAS, beta 1: the residual add)
 *     xb   = rmsnorm(x) * ffnNorm
 *     h13  = xb w13^T                  (cuBLAS)          h13: [T, 2 hidden] f32
 *     hb   = silu(h13[:, :hidden]) * h13[:, hidden:]     hb: [T, hidden] W
 *     x   += hb w2^T                   (cuBLAS, beta 1)
 *   rows wanting logits: xl = rmsnorm(x[rows]) * finalNorm; logits = xl cls^T; (argmax)
 * </pre>
 * W is bf16 (GEMMs with bf16 inputs and float32 accumulation, {@code CUBLAS_COMPUTE_32F}) or
 * float32 ({@code CUBLAS_COMPUTE_32F_PEDANTIC}: no TF32), per {@link Precision}.
 *
 * <p>Threading: device thread only. Created by {@link CudaDevice#load}; owns its weights and
 * workspace (freed by {@link #close()}), not the KV cache.
 */
public final class CudaForwardBackend implements ForwardBackend {
  /** Default tokens per chunk: bounds the activation workspace. */
  public static final int DEFAULT_CHUNK_TOKENS = 2048;
  /** Rows of logits computed per classifier GEMM (bounds the logits workspace). */
  static final int LOGIT_ROWS = 256;
  /** Threads of an attention block (ATT_THREADS in llama.cu): keys per tile, and the largest head dimension. */
  static final int ATT_THREADS = 128;

  private final CudaContext ctx;
  private final DeviceWeights w;
  private final KvCache kv;
  private final ModelConfig c;
  private final Precision p;
  private final int chunk;
  private final StepWorkspace ws;
  private final Gemm gemm;
  private long steps;
  private boolean closed;
  private StepProfiler profiler;
  private org.bytedeco.javacpp.Pointer hostWeights;
  private boolean graphs = Boolean.parseBoolean(System.getProperty("prism.cuda.graphs", "true"));
  private long graphReplays;
  private final java.util.Map<Integer, DecodeGraph> decodeGraphs = new java.util.HashMap<>();

  private CudaForwardBackend(CudaContext ctx, DeviceWeights w, KvCache kv, int chunk, StepWorkspace ws, Gemm gemm) {
    this.ctx = ctx;
    this.w = w;
    this.kv = kv;
    this.c = w.config;
    this.p = w.precision;
    this.chunk = chunk;
    this.ws = ws;
    this.gemm = gemm;
  }

  /**
   * Builds the backend over already-uploaded weights; allocates the workspace.
   *
   * @throws IllegalArgumentException if the KV cache's element size does not match the precision,
   *     or the head dimension is above 128 or odd
   */
  static CudaForwardBackend create(CudaContext ctx, DeviceWeights w, KvCache kv, int maxChunkTokens) {
    ModelConfig c = w.config;
    if (kv.elementBytes() != w.precision.elementBytes) {
      throw new IllegalArgumentException("KV cache has " + kv.elementBytes() + "-byte elements but precision " + w.precision
          + " needs " + w.precision.elementBytes);
    }
    if (c.headDim() > ATT_THREADS || c.headDim() % 8 != 0) {
      throw new IllegalArgumentException("head dimension " + c.headDim() + " unsupported by the CUDA attention kernel (a multiple of 8, <= 128)");
    }
    if (maxChunkTokens <= 0) throw new IllegalArgumentException("max chunk tokens must be > 0, got " + maxChunkTokens);
    ctx.makeCurrent();
    StepWorkspace ws = StepWorkspace.allocate(ctx, c, w.precision, maxChunkTokens);
    return new CudaForwardBackend(ctx, w, kv, maxChunkTokens, ws, new Gemm(ctx, w.precision));
  }

  @Override
  public ModelConfig config() {
    return c;
  }

  @Override
  public KvCache kvCache() {
    return kv;
  }

  @Override
  public long weightBytes() {
    return w.bytes;
  }

  /** Whether the weights are on the device, so that forward steps can run. */
  @Override
  public boolean weightsResident() {
    return w.onDevice();
  }

  /**
   * Evicts the weights: copies them into a pinned host buffer (kept for the next activation and
   * later evictions), frees the device allocation and drops the captured decode graphs (their
   * weight addresses will change). Forward steps then throw {@link IllegalStateException}. The
   * caller releases the weight bytes from the page pool afterwards. No-op when already evicted.
   */
  @Override
  public void evictWeights() {
    if (closed) throw new IllegalStateException("backend is closed");
    if (!w.onDevice()) return;
    ctx.makeCurrent();
    ctx.synchronize();
    if (hostWeights == null) {
      hostWeights = ctx.allocHost(w.bytes);
      check("cuMemcpyDtoHAsync(weights)", cudart.cuMemcpyDtoHAsync(hostWeights, w.base, w.bytes, ctx.stream));
      ctx.synchronize();
    }
    for (DecodeGraph g : decodeGraphs.values()) g.close();
    decodeGraphs.clear();
    w.releaseDevice();
  }

  /**
   * Activates evicted weights: a new device allocation filled from the pinned host copy with
   * asynchronous copies of 256 MiB (issue 4 measures this against bytes / host-to-device bandwidth).
   * The caller reserved the bytes in the page pool first. No-op when resident.
   *
   * @throws io.prism.runtime.memory.DeviceException if the allocation or a copy fails (the weights stay evicted)
   */
  @Override
  public void activateWeights() {
    if (closed) throw new IllegalStateException("backend is closed");
    if (w.onDevice()) return;
    ctx.makeCurrent();
    long base = ctx.alloc("weights " + c.name(), w.bytes);
    try {
      copyHostWeights(base);
    } catch (RuntimeException e) {
      ctx.free(base);
      throw e;
    }
    w.rebase(base);
  }

  private void copyHostWeights(long base) {
    long chunkBytes = 256L << 20;
    for (long o = 0; o < w.bytes; o += chunkBytes) {
      check("cuMemcpyHtoDAsync(weights)", cudart.cuMemcpyHtoDAsync(base + o, new DevicePointer(hostWeights.address() + o),
          Math.min(chunkBytes, w.bytes - o), ctx.stream));
    }
    ctx.synchronize();
  }

  /**
   * Turns per-operation device timing on or off (benchmarks only: it synchronizes every chunk).
   * {@link #profile()} returns milliseconds per operation since it was turned on.
   */
  public void profiling(boolean on) {
    if (on && profiler == null) profiler = new StepProfiler(ctx);
    if (!on && profiler != null) {
      profiler.close();
      profiler = null;
    }
  }

  /** Device milliseconds per operation accumulated while profiling (empty when off). */
  public java.util.Map<String, Double> profile() {
    return profiler == null ? java.util.Map.of() : new java.util.LinkedHashMap<>(profiler.totals());
  }

  /** Clears the accumulated profile. */
  public void resetProfile() {
    if (profiler != null) profiler.reset();
  }

  private void mark(String label) {
    if (profiler != null) profiler.mark(label);
  }

  /** Steps run so far (for benchmarks and logs). */
  public long steps() {
    return steps;
  }

  /** Precision of weights, activations and KV cache. */
  public Precision precision() {
    return p;
  }

  @Override
  public void forward(ForwardBatch batch, float[][] logits) {
    run(batch, logits, null);
  }

  /**
   * Like {@link #forward} but samples greedily on the device: {@code next[row]} receives the argmax
   * of the row's logits (first index on ties) for entries with {@code wantLogits}; only those ints
   * cross to the host.
   */
  public void forwardGreedy(ForwardBatch batch, int[] next) {
    if (graphs && profiler == null && isDecode(batch) && batch.entries().size() <= maxBucket()) {
      runGraph(batch, next);
    } else {
      run(batch, null, next);
    }
  }

  /** Turns replay of captured decode-step CUDA graphs on or off (default: system property {@code prism.cuda.graphs}, true). */
  public void graphs(boolean on) {
    graphs = on;
  }

  /**
   * Chooses the skinny-GEMM kernel (true, the default) or cuBLAS for steps of at most 8 tokens in
   * bf16; drops captured graphs so the next decode steps capture the new choice. For benchmarks.
   */
  public void skinnyGemm(boolean on) {
    gemm.skinnyKernel = on;
    ctx.makeCurrent();
    ctx.synchronize();
    for (DecodeGraph g : decodeGraphs.values()) g.close();
    decodeGraphs.clear();
  }

  /** Decode steps served by a CUDA graph replay so far. */
  public long graphReplays() {
    return graphReplays;
  }

  private static boolean isDecode(ForwardBatch b) {
    for (ForwardBatch.Entry e : b.entries()) if (e.tokens().length != 1 || !e.wantLogits()) return false;
    return !b.entries().isEmpty();
  }

  private int maxBucket() {
    return Math.min(LOGIT_ROWS, Integer.highestOneBit(chunk));
  }

  private void runGraph(ForwardBatch batch, int[] next) {
    checkRunnable();
    List<ForwardBatch.Entry> es = batch.entries();
    validate(es);
    ctx.makeCurrent();
    int n = es.size();
    int bucket = Math.max(1, Integer.highestOneBit(n - 1) << 1);
    if (n == 1) bucket = 1;
    DecodeGraph g = decodeGraphs.get(bucket);
    if (g == null) {
      g = captureDecode(bucket);
      decodeGraphs.put(bucket, g);
    }
    ByteBuffer m = g.meta;
    int bs = kv.blockSize(), kvDimBytes = c.kvDim() * p.elementBytes;
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
    steps++;
    graphReplays++;
  }

  private DecodeGraph captureDecode(int bucket) {
    int bs = kv.blockSize();
    int stride = Math.min(kv.maxBlocks(), (c.maxSeqLen() + bs - 1) / bs);
    int groups = c.numHeads() / headsPerBlock(c.kvGroupSize());
    int splits = ws.splits(bucket, groups, c.maxSeqLen() - 1, ctx.multiprocessors);
    ctx.synchronize();
    DecodeGraph g = DecodeGraph.allocate(ctx, bucket, stride, splits);
    try {
      long d = g.metaDev;
      g.capture(() -> {
        layers(bucket, d, d + g.oTok(), d + g.oPos(), d + g.oTs(), d + g.oTab(), splits);
        classifier(d + g.oRows(), bucket, true);
        check("cuMemcpyDtoHAsync(graph argmax)", cudart.cuMemcpyDtoHAsync(g.outPinned, ws.argmax, 4L * bucket, ctx.stream));
      });
    } catch (RuntimeException e) {
      g.close();
      throw e;
    }
    return g;
  }

  /** Waits until the device finished all queued work of this backend. */
  public void synchronize() {
    ctx.makeCurrent();
    ctx.synchronize();
  }

  private void run(ForwardBatch batch, float[][] logits, int[] next) {
    checkRunnable();
    List<ForwardBatch.Entry> es = batch.entries();
    validate(es);
    ctx.makeCurrent();
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
    steps++;
  }

  private void checkRunnable() {
    if (closed) throw new IllegalStateException("backend is closed");
    if (!w.onDevice()) throw new IllegalStateException("weights of " + c.name() + " are evicted; activate them first");
  }

  private void validate(List<ForwardBatch.Entry> es) {
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

  private record Piece(int entry, int from, int to) {}

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
    int kvDimBytes = c.kvDim() * p.elementBytes;
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
    long dKvOff = ws.meta, dTok = ws.meta + oTok, dPos = ws.meta + oPos, dTs = ws.meta + oTs, dRows = ws.meta + oRows, dTab = ws.meta + oTab;

    int groups = c.numHeads() / headsPerBlock(c.kvGroupSize());
    layers(T, dKvOff, dTok, dPos, dTs, dTab, ws.splits(T, groups, maxPos, ctx.multiprocessors));
    try {
      logitsRows(rows, dRows, rowEntry, logits, next);
    } finally {
      if (profiler != null) profiler.collect();
    }
  }

  private void logitsRows(int rows, long dRows, int[] rowEntry, float[][] logits, int[] next) {

    int vocab = c.vocabSize();
    mark("logits");
    for (int g = 0; g < rows; g += LOGIT_ROWS) {
      int n = Math.min(LOGIT_ROWS, rows - g);
      classifier(dRows + 4L * g, n, next != null);
      if (next != null) {
        check("cuMemcpyDtoHAsync(argmax)", cudart.cuMemcpyDtoHAsync(ws.logitsPinned, ws.argmax, 4L * n, ctx.stream));
        ctx.synchronize();
        for (int i = 0; i < n; i++) next[rowEntry[g + i]] = ws.logitsHost.getInt(4 * i);
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

  /** Final norm of {@code n} rows of x (indices at {@code dRows}), logits, and their argmax when {@code greedy}. */
  private void classifier(long dRows, int n, boolean greedy) {
    ctx.kernels.args().ptr(ws.x).ptr(w.finalNorm).ptr(ws.xl).ptr(dRows).i32(c.dim()).f32(c.normEps())
        .go("rmsnorm_" + p.suffix(), ctx.stream, n, 1, 1, 256, 0);
    gemm.run(w.classifier, ws.xl, ws.logits, c.vocabSize(), c.dim(), n, 0f);
    if (greedy) ctx.kernels.args().ptr(ws.logits).i32(c.vocabSize()).ptr(ws.argmax).go("argmax_rows", ctx.stream, n, 1, 1, 1024, 0);
  }

  private void layers(int T, long dKvOff, long dTok, long dPos, long dTs, long dTab, int splits) {
    String sfx = p.suffix();
    KernelModule k = ctx.kernels;
    int dim = c.dim(), kvDim = c.kvDim(), hidden = c.hiddenDim(), hd = c.headDim();
    int nh = c.numHeads(), nkv = c.numKvHeads();
    int hpb = headsPerBlock(c.kvGroupSize());
    int groups = nh / hpb;
    float scale = (float) (1.0 / Math.sqrt(hd));
    mark("embed");
    k.args().ptr(w.embedding).ptr(dTok).ptr(ws.x).i32(dim).go("embed_" + sfx, ctx.stream, T, 1, 1, 256, 0);
    for (int l = 0; l < c.numLayers(); l++) {
      long kBase = kv.keys(l).address(), vBase = kv.values(l).address();
      mark("rmsnorm");
      k.args().ptr(ws.x).ptr(w.attnNorm[l]).ptr(ws.xb).ptr(0).i32(dim).f32(c.normEps()).go("rmsnorm_" + sfx, ctx.stream, T, 1, 1, 256, 0);
      mark("gemm qkv");
      gemm.run(w.wqkv[l], ws.xb, ws.qkv, dim + 2 * kvDim, dim, T, 0f);
      mark("rope + kv write");
      k.args().ptr(ws.qkv).ptr(dPos).ptr(dKvOff).ptr(w.invFreq).ptr(kBase).ptr(vBase).i32(nh).i32(nkv).i32(hd)
          .go("rope_kv_" + sfx, ctx.stream, T, 1, 1, 128, 0);
      mark("attention");
      k.args().ptr(ws.qkv).ptr(dPos).ptr(dTs).ptr(dTab).ptr(kBase).ptr(vBase).ptr(ws.part).i32(nh).i32(nkv).i32(hd).i32(hpb)
          .i32(kv.blockSize()).i32(kv.blocksPerPage()).i64(kv.pageBytes()).f32(scale).i32(splits)
          .go("attn_partial_" + sfx, ctx.stream, T, groups, splits, ATT_THREADS, 0);
      k.args().ptr(ws.part).ptr(ws.xb).i32(nh).i32(hd).i32(splits).go("attn_combine_" + sfx, ctx.stream, T, nh, 1, (hd + 31) / 32 * 32, 0);
      mark("gemm o");
      gemm.run(w.wo[l], ws.xb, ws.x, dim, dim, T, 1f);
      mark("rmsnorm");
      k.args().ptr(ws.x).ptr(w.ffnNorm[l]).ptr(ws.xb).ptr(0).i32(dim).f32(c.normEps()).go("rmsnorm_" + sfx, ctx.stream, T, 1, 1, 256, 0);
      mark("gemm w13");
      gemm.run(w.w13[l], ws.xb, ws.h13, 2 * hidden, dim, T, 0f);
      mark("swiglu");
      long total = (long) T * hidden;
      k.args().ptr(ws.h13).ptr(ws.hb).i32(hidden).i64(total).go("swiglu_" + sfx, ctx.stream, (int) Math.min(65535, (total + 255) / 256), 1, 1, 256, 0);
      mark("gemm w2");
      gemm.run(w.w2[l], ws.hb, ws.x, dim, hidden, T, 1f);
    }
  }

  /** Largest divisor of the GQA group size that is at most 4 (MAX_HPB in llama.cu): query heads per attention block. */
  static int headsPerBlock(int group) {
    for (int h = Math.min(4, group); h > 1; h--) if (group % h == 0) return h;
    return 1;
  }

  @Override
  public void close() {
    if (closed) return;
    closed = true;
    ctx.makeCurrent();
    ctx.synchronize();
    for (DecodeGraph g : decodeGraphs.values()) g.close();
    decodeGraphs.clear();
    ws.close(ctx);
    gemm.close();
    w.close();
    ctx.freeHost(hostWeights);
    hostWeights = null;
    profiling(false);
  }
}
