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
  /** Threads of an attn_dec block (AD_THREADS in llama.cu). */
  static final int AD_THREADS = 128;
  /**
   * "auto" decode attention: the tile kernel below this many rows (measured on an H200, 8B shape:
   * 4.93 vs 4.96 ms at batch 1, 5.24 vs 5.45 at 8, 6.25 vs 6.30 at 32), attn_dec16 / attn_dec4 from
   * here on (7.34 vs 7.44 ms at 64).
   */
  static final int AUTO_DEC_ROWS = 48;

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
  /** Single-token steps through the fused GEMVs (property {@code prism.cuda.fused}, default true; bf16 with the skinny kernel only). */
  private boolean fused = Boolean.parseBoolean(System.getProperty("prism.cuda.fused", "true"));
  /**
   * Attention kernel for steps of single-token rows and for prefill: "dec" / "dec4" / "decp" /
   * "dec16" (attn_dec: lane groups per key, coalesced; dec4 capped for 4 blocks per SM; decp: next
   * step's loads in flight during this step's math; dec16: 16-lane rows with reduce-scattered
   * scores), "tile" (attn_partial + attn_combine), or "auto" (tile below {@link #AUTO_DEC_ROWS}
   * rows, else dec16 where rows take 16 lanes, else dec4) (properties {@code
   * prism.cuda.attn.decode}, default auto, and {@code prism.cuda.attn.prefill}, default tile).
   * attn_dec needs headDim / (16 / element bytes) to be a power of two; other shapes use tile.
   */
  private String attnDecode = System.getProperty("prism.cuda.attn.decode", "auto");
  private String attnPrefill = System.getProperty("prism.cuda.attn.prefill", "tile");
  /**
   * Programmatic dependent launches between this backend's own kernels (property {@code
   * prism.cuda.pdl}, default true: measured on an H200, 8B shape, batch 1: 4.85 against 4.95 ms per
   * step; no change at batch 64).
   */
  private boolean pdl = Boolean.parseBoolean(System.getProperty("prism.cuda.pdl", "true"));
  /** KV block layout: head-major when true (property {@code prism.cuda.kv-layout} = head), else token-major. */
  private boolean headMajorKv = System.getProperty("prism.cuda.kv-layout", "token").equals("head");
  /** PDL trigger once each block's main work is done (true, property {@code prism.cuda.pdl-late}) or at block start. */
  private boolean pdlLate = Boolean.parseBoolean(System.getProperty("prism.cuda.pdl-late", "true"));

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
    if (profiler != null) {
      profiler.mark(label);
      ctx.kernels.foreign();
    }
  }

  /**
   * Chooses the decode-step implementation (for tests and benchmarks): {@code fusedGemv} the fused
   * single-token GEMVs, {@code decodeAttention} / {@code prefillAttention} the attention kernel
   * ("auto", "dec", "dec4", "decp", "dec16" or "tile"), {@code dependentLaunch} PDL between kernels. Drops captured graphs.
   */
  public void kernels(boolean fusedGemv, String decodeAttention, String prefillAttention, boolean dependentLaunch) {
    for (String a : new String[] {decodeAttention, prefillAttention}) {
      if (!java.util.Set.of("auto", "dec", "dec4", "decp", "dec16", "tile").contains(a)) {
        throw new IllegalArgumentException("attention kernel " + a + " is not auto, dec, dec4, decp, dec16 or tile");
      }
    }
    fused = fusedGemv;
    attnDecode = decodeAttention;
    attnPrefill = prefillAttention;
    pdl = dependentLaunch;
    ctx.makeCurrent();
    ctx.synchronize();
    for (DecodeGraph g : decodeGraphs.values()) g.close();
    decodeGraphs.clear();
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

  /**
   * Tuning knobs for benchmarks and tests: attention blocks aimed for per multiprocessor when
   * splitting the key range, the most splits per row, and warps per multiprocessor of the fused
   * GEMVs (values below 1 keep the current one). Drops captured graphs.
   */
  public void tuning(int attentionBlocksPerSm, int attentionMaxSplits, int gemvWarpsPerSm) {
    tuning(attentionBlocksPerSm, attentionMaxSplits, gemvWarpsPerSm, pdlLate);
  }

  /** {@link #tuning(int, int, int)} plus where the kernels trigger their dependents (see {@code prism.cuda.pdl-late}). */
  public void tuning(int attentionBlocksPerSm, int attentionMaxSplits, int gemvWarpsPerSm, boolean pdlTriggerLate) {
    tuning(attentionBlocksPerSm, attentionMaxSplits, gemvWarpsPerSm, pdlTriggerLate, gemm.gemvPairs);
  }

  /** {@link #tuning(int, int, int, boolean)} plus two rows per warp in the single-row GEMVs (see {@code prism.cuda.gemv-pairs}). */
  public void tuning(int attentionBlocksPerSm, int attentionMaxSplits, int gemvWarpsPerSm, boolean pdlTriggerLate, boolean gemvPairs) {
    gemm.gemvPairs = gemvPairs;
    pdlLate = pdlTriggerLate;
    if (attentionBlocksPerSm > 0) ws.attBlocksPerSm = attentionBlocksPerSm;
    if (attentionMaxSplits > 0) ws.attMaxSplits = Math.min(64, attentionMaxSplits);
    if (gemvWarpsPerSm > 0) gemm.gemvWarpsPerSm = gemvWarpsPerSm;
    ctx.makeCurrent();
    ctx.synchronize();
    for (DecodeGraph g : decodeGraphs.values()) g.close();
    decodeGraphs.clear();
  }

  /** Fewest keys per attn_dec split (benchmarks; see {@code prism.cuda.att-min-keys}); drops captured graphs. */
  public void attentionMinKeys(int keys) {
    if (keys < 8) throw new IllegalArgumentException("attention min keys must be >= 8, got " + keys);
    ws.attMinKeys = keys;
    ctx.makeCurrent();
    ctx.synchronize();
    for (DecodeGraph g : decodeGraphs.values()) g.close();
    decodeGraphs.clear();
  }

  /** Turns the per-shape tuned cuBLASLt GEMMs for decode batches (2..256 tokens, bf16) on or off; drops captured graphs. */
  public void tunedGemm(boolean on) {
    ctx.makeCurrent();
    ctx.synchronize();
    for (DecodeGraph g : decodeGraphs.values()) g.close();
    decodeGraphs.clear();
    gemm.useLt(on);
  }

  /** What the cuBLASLt search chose (benchmark logs); empty when off. */
  public String tunedGemmDescription() {
    return gemm.ltDescription();
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
    ctx.kernels.pdlLate(pdlLate);
    int n = es.size();
    int bucket = Math.max(1, Integer.highestOneBit(n - 1) << 1);
    if (n == 1) bucket = 1;
    DecodeGraph g = decodeGraphs.get(bucket);
    if (g == null) {
      g = captureDecode(bucket);
      decodeGraphs.put(bucket, g);
    }
    ByteBuffer m = g.meta;
    int bs = kv.blockSize(), kvDimBytes = (int) slotStride();
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
    // GEMM shapes of this bucket tuned before capture (cuBLASLt search synchronizes)
    gemm.prepare(w.wqkv[0], ws.xb, c.dim() + 2 * c.kvDim(), c.dim(), bucket);
    gemm.prepare(w.wo[0], ws.xb, c.dim(), c.dim(), bucket);
    gemm.prepare(w.w13[0], ws.xb, 2 * c.hiddenDim(), c.dim(), bucket);
    gemm.prepare(w.w2[0], ws.hb, c.dim(), c.hiddenDim(), bucket);
    gemm.prepare(w.classifier, ws.xl, c.vocabSize(), c.dim(), bucket);
    DecodeGraph g = DecodeGraph.allocate(ctx, bucket, stride, splits);
    gemm.capturing = true;
    try {
      long d = g.metaDev;
      g.capture(() -> {
        ctx.kernels.foreign(); // the metadata copy
        boolean f = fusedStep(bucket);
        layers(bucket, true, d, d + g.oTok(), d + g.oPos(), d + g.oTs(), d + g.oTab(), splits);
        classifier(d + g.oRows(), bucket, true, f);
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
    ctx.kernels.pdlLate(pdlLate);
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
    int kvDimBytes = (int) slotStride();
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

    int groups = c.numHeads() / headsPerBlock(c.kvGroupSize());
    boolean decode = T == pieces.size();
    for (Piece pc : pieces) decode &= pc.to - pc.from == 1;
    layers(T, decode, dKvOff, dTok, dPos, dTs, dTab, ws.splits(T, groups, maxPos, ctx.multiprocessors));
    try {
      logitsRows(rows, dRows, rowEntry, logits, next, fusedStep(T));
    } finally {
      if (profiler != null) profiler.collect();
    }
  }

  private void logitsRows(int rows, long dRows, int[] rowEntry, float[][] logits, int[] next, boolean fusedRow) {

    int vocab = c.vocabSize();
    mark("logits");
    for (int g = 0; g < rows; g += LOGIT_ROWS) {
      int n = Math.min(LOGIT_ROWS, rows - g);
      classifier(dRows + 4L * g, n, next != null, fusedRow);
      ctx.kernels.foreign(); // the copy below
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

  /**
   * Final norm of {@code n} rows of x (indices at {@code dRows}), logits, and their argmax when
   * {@code greedy}; {@code fusedRow}: a single-token step, whose one row goes through the fused
   * norm + GEMV kernel.
   */
  private void classifier(long dRows, int n, boolean greedy, boolean fusedRow) {
    boolean dep = pdl && profiler == null;
    if (fusedRow && n == 1) {
      gemm.gemv1RmsStore(w.classifier, ws.x, w.finalNorm, dRows, c.normEps(), ws.logits, c.vocabSize(), c.dim());
    } else {
      ctx.kernels.args().dependent(dep).ptr(ws.x).ptr(w.finalNorm).ptr(ws.xl).ptr(dRows).i32(c.dim()).f32(c.normEps())
          .go("rmsnorm_" + p.suffix(), ctx.stream, n, 1, 1, 256, 0);
      gemm.run(w.classifier, ws.xl, ws.logits, c.vocabSize(), c.dim(), n, 0f);
    }
    if (greedy) ctx.kernels.args().dependent(dep).ptr(ws.logits).i32(c.vocabSize()).ptr(ws.argmax).go("argmax_rows", ctx.stream, n, 1, 1, 1024, 0);
  }

  /** Bytes between consecutive token slots of a block (per KV head row start): see llama.cu's KV layout. */
  private long slotStride() {
    return (long) (headMajorKv ? c.headDim() : c.kvDim()) * p.elementBytes;
  }

  /** Bytes between consecutive KV heads of one token slot. */
  private long headStride() {
    return (long) (headMajorKv ? kv.blockSize() * c.headDim() : c.headDim()) * p.elementBytes;
  }

  /**
   * Chooses the layout inside each KV block (tests and benchmarks; property {@code
   * prism.cuda.kv-layout} = token | head): token-major ({@code [slot][kvDim]}, KvCache's picture)
   * or head-major ({@code [kvHead][slot][headDim]}: one KV head's rows of a block contiguous).
   * KV written under the other layout reads as garbage: switch before any prefill. Drops graphs.
   */
  public void kvLayout(boolean headMajor) {
    headMajorKv = headMajor;
    ctx.makeCurrent();
    ctx.synchronize();
    for (DecodeGraph g : decodeGraphs.values()) g.close();
    decodeGraphs.clear();
  }

  /** Whether attn_dec serves this shape: lanes per K row (headDim / 16-byte vector) a power of two. */
  private boolean decAttentionApplies() {
    int lanes = decLanes();
    return lanes >= 1 && lanes <= 32 && Integer.bitCount(lanes) == 1 && c.headDim() % (16 / p.elementBytes) == 0;
  }

  /** Lanes of attn_dec per K row: headDim / (16 / element bytes). */
  private int decLanes() {
    return c.headDim() / (16 / p.elementBytes);
  }

  /** Whether a step of {@code T} tokens runs the fused single-token kernels. */
  private boolean fusedStep(int T) {
    return T == 1 && fused && gemm.fusedApplies(c.dim(), c.hiddenDim(), c.headDim());
  }

  private void layers(int T, boolean decode, long dKvOff, long dTok, long dPos, long dTs, long dTab, int splits) {
    String sfx = p.suffix();
    KernelModule k = ctx.kernels;
    k.pdl = pdl && profiler == null;
    boolean dep = k.pdl;
    boolean one = fusedStep(T);
    String attn = decode ? attnDecode : attnPrefill;
    if (attn.equals("auto")) attn = T < AUTO_DEC_ROWS ? "tile" : decLanes() == 16 ? "dec16" : "dec4";
    if (attn.equals("dec16") && decLanes() != 16) attn = "dec4";
    if (!attn.equals("tile") && !decAttentionApplies()) attn = "tile";
    int dim = c.dim(), kvDim = c.kvDim(), hidden = c.hiddenDim(), hd = c.headDim();
    int nh = c.numHeads(), nkv = c.numKvHeads();
    int hpb = headsPerBlock(c.kvGroupSize());
    int groups = nh / hpb;
    float scale = (float) (1.0 / Math.sqrt(hd));
    mark("embed");
    k.args().ptr(w.embedding).ptr(dTok).ptr(ws.x).i32(dim).go("embed_" + sfx, ctx.stream, T, 1, 1, 256, 0);
    for (int l = 0; l < c.numLayers(); l++) {
      long kBase = kv.keys(l).address(), vBase = kv.values(l).address();
      if (one) {
        mark("gemv rmsnorm + qkv + rope + kv write");
        gemm.gemv1RmsQkvRope(w.wqkv[l], ws.x, w.attnNorm[l], c.normEps(), ws.qkv, dPos, dKvOff, w.invFreq, kBase, vBase, dim, kvDim, hd,
            headStride());
      } else {
        mark("rmsnorm");
        k.args().dependent(dep).ptr(ws.x).ptr(w.attnNorm[l]).ptr(ws.xb).ptr(0).i32(dim).f32(c.normEps()).go("rmsnorm_" + sfx, ctx.stream, T, 1, 1, 256, 0);
        mark("gemm qkv");
        gemm.run(w.wqkv[l], ws.xb, ws.qkv, dim + 2 * kvDim, dim, T, 0f);
        mark("rope + kv write");
        k.args().dependent(dep).ptr(ws.qkv).ptr(dPos).ptr(dKvOff).ptr(w.invFreq).ptr(kBase).ptr(vBase).i32(nh).i32(nkv).i32(hd)
            .i64(headStride()).go("rope_kv_" + sfx, ctx.stream, T, T >= ctx.multiprocessors ? 1 : Math.min(8, (2 * ctx.multiprocessors + T - 1) / T), 1, 256, 0);
      }
      mark("attention");
      if (attn.equals("tile")) {
        k.args().dependent(dep).ptr(ws.qkv).ptr(dPos).ptr(dTs).ptr(dTab).ptr(kBase).ptr(vBase).ptr(ws.part).i32(nh).i32(nkv).i32(hd).i32(hpb)
            .i32(kv.blockSize()).i32(kv.blocksPerPage()).i64(kv.pageBytes()).f32(scale).i32(splits).i64(slotStride()).i64(headStride())
            .go("attn_partial_" + sfx, ctx.stream, T, groups, splits, ATT_THREADS, 0);
        k.args().dependent(dep).ptr(ws.part).ptr(dPos).ptr(ws.xb).i32(nh).i32(hd).i32(splits)
            .go("attn_combine_" + sfx, ctx.stream, T, nh, 1, (hd + 31) / 32 * 32, 0);
      } else {
        KernelModule.Launch la = k.args().dependent(dep).ptr(ws.qkv).ptr(dPos).ptr(dTs).ptr(dTab).ptr(kBase).ptr(vBase).ptr(ws.part)
            .ptr(ws.counters).ptr(ws.xb).i32(nh).i32(nkv).i32(hd).i32(hpb).i32(kv.blockSize()).i32(kv.blocksPerPage())
            .i64(kv.pageBytes()).f32(scale).i32(splits).i64(slotStride()).i64(headStride()).i32(ws.attMinKeys);
        if (attn.equals("dec4")) la.go("attn_dec4_" + sfx, ctx.stream, T, groups, splits, AD_THREADS, 0);
        else if (attn.equals("decp")) la.go("attn_decp_" + sfx, ctx.stream, T, groups, splits, AD_THREADS, 0);
        else if (attn.equals("dec16")) la.go("attn_dec16_" + sfx, ctx.stream, T, groups, splits, AD_THREADS, 0);
        else la.go("attn_dec_" + sfx, ctx.stream, T, groups, splits, AD_THREADS, 0);
      }
      mark("gemm o");
      if (one) gemm.gemv1Acc(w.wo[l], ws.xb, ws.x, dim, dim);
      else gemm.run(w.wo[l], ws.xb, ws.x, dim, dim, T, 1f);
      if (one) {
        mark("gemv rmsnorm + w13 + swiglu");
        gemm.gemv1RmsSwiglu(w.w13[l], ws.x, w.ffnNorm[l], c.normEps(), ws.hb, hidden, dim);
      } else {
        mark("rmsnorm");
        k.args().dependent(dep).ptr(ws.x).ptr(w.ffnNorm[l]).ptr(ws.xb).ptr(0).i32(dim).f32(c.normEps()).go("rmsnorm_" + sfx, ctx.stream, T, 1, 1, 256, 0);
        mark("gemm w13");
        gemm.run(w.w13[l], ws.xb, ws.h13, 2 * hidden, dim, T, 0f);
        mark("swiglu");
        long total = (long) T * hidden;
        long perThread = hidden % 4 == 0 ? 4 : 1; // swiglu takes 4 elements per thread when rows allow 16-byte loads
        k.args().dependent(dep).ptr(ws.h13).ptr(ws.hb).i32(hidden).i64(total)
            .go("swiglu_" + sfx, ctx.stream, (int) Math.min(65535, (total / perThread + 255) / 256), 1, 1, 256, 0);
      }
      mark("gemm w2");
      if (one) gemm.gemv1Acc(w.w2[l], ws.hb, ws.x, dim, hidden);
      else gemm.run(w.w2[l], ws.hb, ws.x, dim, hidden, T, 1f);
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
