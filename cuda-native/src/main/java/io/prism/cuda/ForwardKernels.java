package io.prism.cuda;

import io.prism.runtime.memory.KvCache;
import io.prism.runtime.model.ModelConfig;

/**
 * Launches the kernels of one forward step of {@link CudaForwardBackend} on the context's stream:
 * the embedding, every layer (the plain path: RMSNorm, cuBLAS GEMMs, RoPE + KV write, attention,
 * SwiGLU; or, for single-token steps, the fused GEMVs) and the classifier (final norm, logits,
 * argmax). It does not copy metadata in or results out: the caller put the step's metadata on the
 * device (see {@link ChunkedStep} and {@link DecodeGraph} for its layout) and passes its addresses.
 *
 * <p>Also holds the kernel choices of the backend (fused GEMVs, attention kernel, programmatic
 * dependent launch, KV block layout), read from system properties at construction and changed by
 * the backend's tuning methods, and the optional {@link StepProfiler}.
 *
 * <p>Shapes: T tokens per step (at most the workspace's chunk), activations as in {@link
 * StepWorkspace}. Addresses are device virtual addresses (bytes). Driver failures surface as
 * {@link io.prism.runtime.memory.DeviceException}. Threading: device thread only.
 */
final class ForwardKernels {
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
  private final StepWorkspace ws;
  private final Gemm gemm;
  /** Per-operation device timing when not null (benchmarks only). */
  StepProfiler profiler;
  /** Single-token steps through the fused GEMVs (property {@code prism.cuda.fused}, default true; bf16 with the skinny kernel only). */
  boolean fused = Boolean.parseBoolean(System.getProperty("prism.cuda.fused", "true"));
  /**
   * Attention kernel for steps of single-token rows and for prefill: "dec" / "dec4" / "decp" /
   * "dec16" (attn_dec: lane groups per key, coalesced; dec4 capped for 4 blocks per SM; decp: next
   * step's loads in flight during this step's math; dec16: 16-lane rows with reduce-scattered
   * scores), "tile" (attn_partial + attn_combine), or "auto" (tile below {@link #AUTO_DEC_ROWS}
   * rows, else dec16 where rows take 16 lanes, else dec4) (properties {@code
   * prism.cuda.attn.decode}, default auto, and {@code prism.cuda.attn.prefill}, default tile).
   * attn_dec needs headDim / (16 / element bytes) to be a power of two; other shapes use tile.
   */
  String attnDecode = System.getProperty("prism.cuda.attn.decode", "auto");
  String attnPrefill = System.getProperty("prism.cuda.attn.prefill", "tile");
  /**
   * Programmatic dependent launches between this backend's own kernels (property {@code
   * prism.cuda.pdl}, default true: measured on an H200, 8B shape, batch 1: 4.85 against 4.95 ms per
   * step; no change at batch 64).
   */
  boolean pdl = Boolean.parseBoolean(System.getProperty("prism.cuda.pdl", "true"));
  /** KV block layout: head-major when true (property {@code prism.cuda.kv-layout} = head), else token-major. */
  boolean headMajorKv = System.getProperty("prism.cuda.kv-layout", "token").equals("head");
  /** PDL trigger once each block's main work is done (true, property {@code prism.cuda.pdl-late}) or at block start. */
  boolean pdlLate = Boolean.parseBoolean(System.getProperty("prism.cuda.pdl-late", "true"));

  ForwardKernels(CudaContext ctx, DeviceWeights w, KvCache kv, StepWorkspace ws, Gemm gemm) {
    this.ctx = ctx;
    this.w = w;
    this.kv = kv;
    this.c = w.config;
    this.p = w.precision;
    this.ws = ws;
    this.gemm = gemm;
  }

  /** Starts a profiler interval named {@code label} when profiling (the next launch is then an ordinary one). */
  void mark(String label) {
    if (profiler != null) {
      profiler.mark(label);
      ctx.kernels.foreign();
    }
  }

  /**
   * Final norm of {@code n} rows of x (indices at {@code dRows}), logits, and their argmax when
   * {@code greedy}; {@code fusedRow}: a single-token step, whose one row goes through the fused
   * norm + GEMV kernel.
   */
  void classifier(long dRows, int n, boolean greedy, boolean fusedRow) {
    boolean dep = pdl && profiler == null;
    if (w.classifierType != null) {
      ctx.kernels.args().dependent(dep).ptr(ws.x).ptr(w.finalNorm).ptr(ws.xl).ptr(dRows).i32(c.dim()).f32(c.normEps())
          .go("rmsnorm_" + p.suffix(), ctx.stream, n, 1, 1, 256, 0);
      QuantGemv.run(ctx, dep, w.classifierType, p, w.classifier, ws.xl, ws.logits, c.vocabSize(), c.dim(), n, c.vocabSize(), false);
    } else if (fusedRow && n == 1) {
      gemm.gemv1RmsStore(w.classifier, ws.x, w.finalNorm, dRows, c.normEps(), ws.logits, c.vocabSize(), c.dim());
    } else {
      ctx.kernels.args().dependent(dep).ptr(ws.x).ptr(w.finalNorm).ptr(ws.xl).ptr(dRows).i32(c.dim()).f32(c.normEps())
          .go("rmsnorm_" + p.suffix(), ctx.stream, n, 1, 1, 256, 0);
      gemm.run(w.classifier, ws.xl, ws.logits, c.vocabSize(), c.dim(), n, 0f);
    }
    if (greedy) ctx.kernels.args().dependent(dep).ptr(ws.logits).i32(c.vocabSize()).ptr(ws.argmax).go("argmax_rows", ctx.stream, n, 1, 1, 1024, 0);
  }

  /**
   * Samples each of the {@code n} logits rows in {@code ws.logits} on the device ({@code sample_rows}:
   * temperature softmax, min-p, top-k, top-p by a cutoff search, coin in index order) into {@code ws.argmax}.
   *
   * @param dParams device array of {@code n} pairs of float4: {temperature, topP, topK, coin}, {minP, 0, 0, 0}
   */
  void sampleRows(long dParams, int n) {
    ctx.kernels.args().ptr(ws.logits).i32(c.vocabSize()).ptr(dParams).ptr(ws.argmax).go("sample_rows", ctx.stream, n, 1, 1, 1024, 0);
  }

  /**
   * Applies each row's sparse bias and penalties to the {@code n} rows of {@code ws.logits} ({@code
   * adjust_logits}).
   *
   * @param dStarts {@code n + 1} ints: row r's entries are {@code [starts[r], starts[r + 1])}
   * @param dTokens token id per entry
   * @param dCoef float4 per entry: {pre, scalePositive, scaleNegative, post}
   */
  void adjustRows(long dStarts, long dTokens, long dCoef, int n) {
    ctx.kernels.args().ptr(ws.logits).i32(c.vocabSize()).ptr(dStarts).ptr(dTokens).ptr(dCoef).go("adjust_logits", ctx.stream, n, 1, 1, 256, 0);
  }

  /**
   * Log probabilities of the sampled tokens in {@code ws.argmax} and of the {@code topN} most likely
   * tokens of each of the {@code n} rows ({@code logprobs_rows}) into {@code ws.logprobs}, {@link
   * StepWorkspace#LOGPROB_STRIDE} floats per row.
   *
   * @param dParams as for {@link #sampleRows} (the temperature is read)
   */
  void logprobRows(long dParams, int n, int topN) {
    ctx.kernels.args().ptr(ws.logits).i32(c.vocabSize()).ptr(dParams).ptr(ws.argmax).i32(topN).ptr(ws.logprobs)
        .go("logprobs_rows", ctx.stream, n, 1, 1, 1024, 0);
  }

  /** Bytes between consecutive token slots of a block (per KV head row start): see llama.cu's KV layout. */
  long slotStride() {
    return (long) (headMajorKv ? c.headDim() : c.kvDim()) * p.elementBytes;
  }

  /** Bytes between consecutive KV heads of one token slot. */
  long headStride() {
    return (long) (headMajorKv ? kv.blockSize() * c.headDim() : c.headDim()) * p.elementBytes;
  }

  /** Whether attn_dec serves this shape: lanes per K row (headDim / 16-byte vector) a power of two. */
  boolean decAttentionApplies() {
    int lanes = decLanes();
    return lanes >= 1 && lanes <= 32 && Integer.bitCount(lanes) == 1 && c.headDim() % (16 / p.elementBytes) == 0;
  }

  /** Lanes of attn_dec per K row: headDim / (16 / element bytes). */
  int decLanes() {
    return c.headDim() / (16 / p.elementBytes);
  }

  /**
   * Whether a step of {@code T} tokens runs the fused single-token kernels: Llama-layout models only
   * (no q/k/v bias, no q/k norm, {@code qDim == dim}); the others take the plain path.
   */
  boolean fusedStep(int T) {
    return T == 1 && fused && plainLayout() && !w.quantized() && gemm.fusedApplies(c.dim(), c.hiddenDim(), c.headDim());
  }

  /** {@code y (+)= W x} for matrix {@code m} of layer {@code l}, kept quantized ({@link QuantGemv}). */
  private void qmm(int l, int m, long x, long y, int T, long ldy, boolean accumulate, boolean dep) {
    QuantGemv.run(ctx, dep, w.quantTypes[l][m], p, w.quant[l][m], x, y, io.prism.runtime.model.QuantizedMatrices.rows(c, m),
        io.prism.runtime.model.QuantizedMatrices.cols(c, m), T, ldy, accumulate);
  }

  /** Whether a step of {@code T} tokens dequantises each matrix and runs cuBLAS (quantized models, many tokens). */
  private boolean denseQuant(int T) {
    return ws.dense != 0 && T >= QuantGemv.denseMinTokens();
  }

  /**
   * {@code y (+)= [W_m1; W_m2; ...] x} through the dense scratch: matrices {@code ms} of layer
   * {@code l} (same input width) dequantised one after another into {@code ws.dense}, then one GEMM.
   */
  private void denseMm(int l, int[] ms, long x, long y, int T, float beta, boolean dep) {
    long off = 0;
    int rows = 0, cols = io.prism.runtime.model.QuantizedMatrices.cols(c, ms[0]);
    for (int m : ms) {
      int r = io.prism.runtime.model.QuantizedMatrices.rows(c, m);
      QuantGemv.dequantize(ctx, dep, w.quantTypes[l][m], p, w.quant[l][m], ws.dense + off, (long) r * cols);
      off += (long) r * cols * p.elementBytes;
      rows += r;
    }
    gemm.run(ws.dense, x, y, rows, cols, T, beta);
  }

  private boolean plainLayout() {
    return !c.architecture().qkvBias() && !c.architecture().qkNorm() && c.qDim() == c.dim();
  }

  /**
   * Embedding and every layer for a step of {@code T} tokens ({@code decode}: every row one token);
   * {@code dKvOff} .. {@code dTab}: device addresses of the step's metadata (KV slot byte offsets,
   * tokens, positions, table starts, block tables), {@code splits}: attention splits per row.
   */
  void layers(int T, boolean decode, long dKvOff, long dTok, long dPos, long dTs, long dTab, int splits) {
    String sfx = p.suffix();
    KernelModule k = ctx.kernels;
    k.pdl = pdl && profiler == null;
    boolean dep = k.pdl;
    boolean one = fusedStep(T);
    String attn = decode ? attnDecode : attnPrefill;
    if (attn.equals("auto")) attn = T < AUTO_DEC_ROWS ? "tile" : decLanes() == 16 ? "dec16" : "dec4";
    if (attn.equals("dec16") && decLanes() != 16) attn = "dec4";
    if (!attn.equals("tile") && !decAttentionApplies()) attn = "tile";
    int dim = c.dim(), kvDim = c.kvDim(), hidden = c.hiddenDim(), hd = c.headDim(), qDim = c.qDim();
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
        if (w.quantized() && denseQuant(T)) {
          denseMm(l, new int[] {io.prism.runtime.model.QuantizedMatrices.Q, io.prism.runtime.model.QuantizedMatrices.K,
              io.prism.runtime.model.QuantizedMatrices.V}, ws.xb, ws.qkv, T, 0f, dep);
        } else if (w.quantized()) {
          long ldy = qDim + 2L * kvDim;
          qmm(l, io.prism.runtime.model.QuantizedMatrices.Q, ws.xb, ws.qkv, T, ldy, false, dep);
          qmm(l, io.prism.runtime.model.QuantizedMatrices.K, ws.xb, ws.qkv + 4L * qDim, T, ldy, false, dep);
          qmm(l, io.prism.runtime.model.QuantizedMatrices.V, ws.xb, ws.qkv + 4L * (qDim + kvDim), T, ldy, false, dep);
        } else {
          gemm.run(w.wqkv[l], ws.xb, ws.qkv, qDim + 2 * kvDim, dim, T, 0f);
        }
        if (w.bqkv[l] != 0 || w.qNorm[l] != 0) {
          mark("qkv bias + q/k norm");
          k.args().dependent(dep).ptr(ws.qkv).ptr(w.bqkv[l]).ptr(w.qNorm[l]).ptr(w.kNorm[l]).i32(nh).i32(nkv).i32(hd).f32(c.normEps())
              .go("qkv_bias_norm", ctx.stream, T, w.bqkv[l] != 0 ? nh + 2 * nkv : nh + nkv, 1, 128, 0);
        }
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
      else if (w.quantized() && denseQuant(T)) denseMm(l, new int[] {io.prism.runtime.model.QuantizedMatrices.O}, ws.xb, ws.x, T, 1f, dep);
      else if (w.quantized()) qmm(l, io.prism.runtime.model.QuantizedMatrices.O, ws.xb, ws.x, T, dim, true, dep);
      else gemm.run(w.wo[l], ws.xb, ws.x, dim, qDim, T, 1f);
      if (one) {
        mark("gemv rmsnorm + w13 + swiglu");
        gemm.gemv1RmsSwiglu(w.w13[l], ws.x, w.ffnNorm[l], c.normEps(), ws.hb, hidden, dim);
      } else {
        mark("rmsnorm");
        k.args().dependent(dep).ptr(ws.x).ptr(w.ffnNorm[l]).ptr(ws.xb).ptr(0).i32(dim).f32(c.normEps()).go("rmsnorm_" + sfx, ctx.stream, T, 1, 1, 256, 0);
        mark("gemm w13");
        if (w.quantized() && denseQuant(T)) {
          denseMm(l, new int[] {io.prism.runtime.model.QuantizedMatrices.GATE, io.prism.runtime.model.QuantizedMatrices.UP}, ws.xb, ws.h13, T, 0f, dep);
        } else if (w.quantized()) {
          qmm(l, io.prism.runtime.model.QuantizedMatrices.GATE, ws.xb, ws.h13, T, 2L * hidden, false, dep);
          qmm(l, io.prism.runtime.model.QuantizedMatrices.UP, ws.xb, ws.h13 + 4L * hidden, T, 2L * hidden, false, dep);
        } else {
          gemm.run(w.w13[l], ws.xb, ws.h13, 2 * hidden, dim, T, 0f);
        }
        mark("swiglu");
        long total = (long) T * hidden;
        long perThread = hidden % 4 == 0 ? 4 : 1; // swiglu takes 4 elements per thread when rows allow 16-byte loads
        k.args().dependent(dep).ptr(ws.h13).ptr(ws.hb).i32(hidden).i64(total)
            .go("swiglu_" + sfx, ctx.stream, (int) Math.min(65535, (total / perThread + 255) / 256), 1, 1, 256, 0);
      }
      mark("gemm w2");
      if (one) gemm.gemv1Acc(w.w2[l], ws.hb, ws.x, dim, hidden);
      else if (w.quantized() && denseQuant(T)) denseMm(l, new int[] {io.prism.runtime.model.QuantizedMatrices.DOWN}, ws.hb, ws.x, T, 1f, dep);
      else if (w.quantized()) qmm(l, io.prism.runtime.model.QuantizedMatrices.DOWN, ws.hb, ws.x, T, dim, true, dep);
      else gemm.run(w.w2[l], ws.hb, ws.x, dim, hidden, T, 1f);
    }
  }

  /** Largest divisor of the GQA group size that is at most 4 (MAX_HPB in llama.cu): query heads per attention block. */
  static int headsPerBlock(int group) {
    for (int h = Math.min(4, group); h > 1; h--) if (group % h == 0) return h;
    return 1;
  }
}
