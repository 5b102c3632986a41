package io.prism.cuda;

import io.prism.runtime.engine.ForwardBackend;
import io.prism.runtime.engine.ForwardBatch;
import io.prism.runtime.sampling.LogitAdjustment;
import io.prism.runtime.sampling.SamplingParams;
import io.prism.runtime.sampling.TokenLogprobs;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.model.ModelConfig;
import java.util.List;

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
 * <p>Parts: {@link ForwardKernels} launches a step's kernels and holds the kernel choices,
 * {@link ChunkedStep} runs a batch directly in chunks, {@link DecodeGraphs} replays captured
 * decode-step graphs, {@link WeightResidency} moves the weights between the device and pinned host
 * chunks (eviction, activation); this class owns them.
 *
 * <p>Threading: device thread only. Created by {@link CudaDevice#load}; owns its weights and
 * workspace (freed by {@link #close()}), not the KV cache.
 */
public final class CudaForwardBackend implements ForwardBackend, io.prism.runtime.engine.DeviceSampling {
  /** Default tokens per chunk: bounds the activation workspace. */
  public static final int DEFAULT_CHUNK_TOKENS = 2048;
  /** Rows of logits computed per classifier GEMM (bounds the logits workspace). */
  static final int LOGIT_ROWS = 256;

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
  private final ForwardKernels kernels;
  private final DecodeGraphs decodeGraphs;
  private final ChunkedStep chunked;
  private final WeightResidency residency;
  private boolean graphs = Boolean.parseBoolean(System.getProperty("prism.cuda.graphs", "true"));

  private CudaForwardBackend(CudaContext ctx, DeviceWeights w, KvCache kv, int chunk, StepWorkspace ws, Gemm gemm, PinnedHostPool pool) {
    this.ctx = ctx;
    this.w = w;
    this.kv = kv;
    this.c = w.config;
    this.p = w.precision;
    this.chunk = chunk;
    this.ws = ws;
    this.gemm = gemm;
    this.kernels = new ForwardKernels(ctx, w, kv, ws, gemm);
    this.decodeGraphs = new DecodeGraphs(ctx, w, kv, ws, gemm, kernels, chunk);
    this.chunked = new ChunkedStep(ctx, w, kv, ws, kernels, chunk);
    this.residency = new WeightResidency(ctx, w, pool);
  }

  /**
   * Builds the backend over already-uploaded weights; allocates the workspace. Evicted copies of the
   * weights take their pinned chunks from {@code pool} (shared with the node's other backends).
   *
   * @throws IllegalArgumentException if the KV cache's element size does not match the precision,
   *     or the head dimension is above 128 or not a multiple of 8
   */
  static CudaForwardBackend create(CudaContext ctx, DeviceWeights w, KvCache kv, int maxChunkTokens, PinnedHostPool pool) {
    ModelConfig c = w.config;
    if (kv.elementBytes() != w.precision.elementBytes) {
      throw new IllegalArgumentException("KV cache has " + kv.elementBytes() + "-byte elements but precision " + w.precision
          + " needs " + w.precision.elementBytes);
    }
    if (c.headDim() > ForwardKernels.ATT_THREADS || c.headDim() % 8 != 0) {
      throw new IllegalArgumentException("head dimension " + c.headDim() + " unsupported by the CUDA attention kernel (a multiple of 8, <= 128)");
    }
    if (maxChunkTokens <= 0) throw new IllegalArgumentException("max chunk tokens must be > 0, got " + maxChunkTokens);
    ctx.makeCurrent();
    StepWorkspace ws = StepWorkspace.allocate(ctx, c, w.precision, maxChunkTokens, w.quantized() && maxChunkTokens >= QuantGemv.denseMinTokens());
    return new CudaForwardBackend(ctx, w, kv, maxChunkTokens, ws, new Gemm(ctx, w.precision), pool);
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

  /** Bytes of the weights kept quantized (layer matrices and classifier; 0 for a dense model): what a decode step reads of them. */
  public long quantizedWeightBytes() {
    return w.quantizedBytes();
  }

  /** Whether the weights are on the device, so that forward steps can run. */
  @Override
  public boolean weightsResident() {
    return w.onDevice();
  }

  /**
   * Evicts the weights: copies them into pinned chunks of the node's {@link PinnedHostPool} (kept
   * for the next activation and later evictions; see {@link WeightResidency}), frees the device
   * allocation and drops the captured decode graphs (their weight addresses will change). Forward
   * steps then throw {@link IllegalStateException}. The caller releases the weight bytes from the
   * page pool afterwards. No-op when already evicted.
   *
   * <p>Time: with the pool's chunks pinned ahead, bytes / device-to-host bandwidth; while the pool
   * is still filling, up to its wait for the fill threads, then the shortfall is pinned here.
   */
  @Override
  public void evictWeights() {
    evictWeights(true);
  }

  /**
   * Evicts as {@link #evictWeights()}; without {@code keepHostCopy} no copy is made and a pinned
   * copy kept from an earlier eviction goes back to the pool (the disk tier: the next activation
   * regenerates or uploads the weights again through {@link #activateWeights(io.prism.runtime.model.LoadedModel)}).
   * If the pool cannot give the chunks, the eviction goes to the disk tier too ({@link #hostCopyBytes()} 0).
   *
   * @throws IllegalStateException if closed, or no chunks could be had and the backend has no load path
   */
  @Override
  public void evictWeights(boolean keepHostCopy) {
    if (closed) throw new IllegalStateException("backend is closed");
    if (!w.onDevice()) return;
    ctx.makeCurrent();
    ctx.synchronize();
    residency.copyOut(keepHostCopy);
    decodeGraphs.closeAll();
    w.releaseDevice();
    if (!keepHostCopy) dropHostCopy();
  }

  /** Bytes of the pinned host copy ({@code w.bytes} once made, also while resident), 0 when none. */
  @Override
  public long hostCopyBytes() {
    return residency.hostCopyBytes();
  }

  /** Chunks of the node's pinned pool held by the host copy (0 when none). */
  public int hostCopyChunks() {
    return residency.hostCopyChunks();
  }

  /** Frees the pinned host copy (its chunks go back to the pool); while evicted the next activation then reloads ({@link #needsReload()}). */
  @Override
  public void dropHostCopy() {
    residency.dropHostCopy();
  }

  @Override
  public boolean needsReload() {
    return !closed && residency.needsReload();
  }

  /**
   * Activates evicted weights: a new device allocation filled from the pinned chunks with one
   * asynchronous copy per chunk and one synchronisation (issue 4 measures this against bytes /
   * host-to-device bandwidth). The caller reserved the bytes in the page pool first. No-op when resident.
   *
   * @throws IllegalStateException if the host copy was dropped (use {@link #activateWeights(io.prism.runtime.model.LoadedModel)})
   * @throws io.prism.runtime.memory.DeviceException if the allocation or a copy fails (the weights stay evicted)
   */
  @Override
  public void activateWeights() {
    if (needsReload()) throw new IllegalStateException("the host copy of " + c.name() + " was dropped; activate it with the model read again");
    activateWeights(null);
  }

  /**
   * Activates; if the host copy was dropped, the weights are built again by the device's own load
   * path ({@link CudaDevice}: uploaded from {@code source}'s host weights, or generated from the
   * seed the backend was loaded with for a random model) into a fresh allocation of the same
   * layout, which this backend adopts.
   *
   * @throws IllegalArgumentException if a reload is needed and {@code source} is null, or it yields another layout
   * @throws io.prism.runtime.memory.DeviceException if the allocation, upload or copy fails (the weights stay evicted)
   */
  @Override
  public void activateWeights(io.prism.runtime.model.LoadedModel source) {
    if (closed) throw new IllegalStateException("backend is closed");
    if (w.onDevice()) return;
    ctx.makeCurrent();
    residency.activate(source);
  }

  /** Sets how a dropped host copy is rebuilt: the device's load path for this model (weights of the same layout). */
  void reloader(java.util.function.Function<io.prism.runtime.model.LoadedModel, DeviceWeights> r) {
    residency.reloader(r);
  }

  /** The weights (tests of this module compare their device bytes across evictions). */
  DeviceWeights deviceWeights() {
    return w;
  }

  /**
   * Turns per-operation device timing on or off (benchmarks only: it synchronizes every chunk).
   * {@link #profile()} returns milliseconds per operation since it was turned on.
   */
  public void profiling(boolean on) {
    if (on && kernels.profiler == null) kernels.profiler = new StepProfiler(ctx);
    if (!on && kernels.profiler != null) {
      kernels.profiler.close();
      kernels.profiler = null;
    }
  }

  /** Device milliseconds per operation accumulated while profiling (empty when off). */
  public java.util.Map<String, Double> profile() {
    return kernels.profiler == null ? java.util.Map.of() : new java.util.LinkedHashMap<>(kernels.profiler.totals());
  }

  /** Clears the accumulated profile. */
  public void resetProfile() {
    if (kernels.profiler != null) kernels.profiler.reset();
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
    kernels.fused = fusedGemv;
    kernels.attnDecode = decodeAttention;
    kernels.attnPrefill = prefillAttention;
    kernels.pdl = dependentLaunch;
    ctx.makeCurrent();
    ctx.synchronize();
    decodeGraphs.closeAll();
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
  @Override
  public boolean greedyOnDevice() {
    return true;
  }

  @Override
  public void forwardGreedy(ForwardBatch batch, int[] next) {
    if (graphs && kernels.profiler == null && DecodeGraphs.isDecode(batch) && batch.entries().size() <= decodeGraphs.maxBucket()) {
      checkRunnable();
      List<ForwardBatch.Entry> es = batch.entries();
      chunked.validate(es);
      decodeGraphs.replay(es, next);
      steps++;
    } else {
      run(batch, null, next);
    }
  }

  /**
   * {@link DeviceSampling}: runs {@code batch} on the direct (non-graph) path and, for each row
   * wanting logits, on the device: applies the row's sparse bias and penalties ({@code
   * adjust_logits}: only the listed tokens are touched), samples ({@code sample_rows}) and, when
   * asked, computes the log probabilities ({@code logprobs_rows}). Only one int per row, plus at
   * most {@code 1 + 2 * 20} numbers for log probabilities, cross to the host; the adjustments cross
   * the other way (20 bytes per adjusted token).
   */
  @Override
  public void forwardSampled(ForwardBatch batch, SamplingParams[] params, LogitAdjustment[] adjustments, float[] coins, int[] next,
      TokenLogprobs[] logprobs) {
    List<ForwardBatch.Entry> es = batch.entries();
    int n = es.size();
    if (params.length < n || coins.length < n || next.length < n || logprobs.length < n || (adjustments != null && adjustments.length < n)) {
      throw new IllegalArgumentException("arrays shorter than the batch: " + n);
    }
    boolean[] wanted = new boolean[n];
    for (int i = 0; i < n; i++) wanted[i] = es.get(i).wantLogits();
    SampledRows rows = SampledRows.of(wanted, params, adjustments, coins, logprobs, c.vocabSize());
    checkRunnable();
    chunked.validate(es);
    chunked.run(es, null, next, rows);
    steps++;
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
    decodeGraphs.closeAll();
  }

  /**
   * Tuning knobs for benchmarks and tests: attention blocks aimed for per multiprocessor when
   * splitting the key range, the most splits per row, and warps per multiprocessor of the fused
   * GEMVs (values below 1 keep the current one). Drops captured graphs.
   */
  public void tuning(int attentionBlocksPerSm, int attentionMaxSplits, int gemvWarpsPerSm) {
    tuning(attentionBlocksPerSm, attentionMaxSplits, gemvWarpsPerSm, kernels.pdlLate);
  }

  /** {@link #tuning(int, int, int)} plus where the kernels trigger their dependents (see {@code prism.cuda.pdl-late}). */
  public void tuning(int attentionBlocksPerSm, int attentionMaxSplits, int gemvWarpsPerSm, boolean pdlTriggerLate) {
    tuning(attentionBlocksPerSm, attentionMaxSplits, gemvWarpsPerSm, pdlTriggerLate, gemm.gemvPairs);
  }

  /** {@link #tuning(int, int, int, boolean)} plus two rows per warp in the single-row GEMVs (see {@code prism.cuda.gemv-pairs}). */
  public void tuning(int attentionBlocksPerSm, int attentionMaxSplits, int gemvWarpsPerSm, boolean pdlTriggerLate, boolean gemvPairs) {
    gemm.gemvPairs = gemvPairs;
    kernels.pdlLate = pdlTriggerLate;
    if (attentionBlocksPerSm > 0) ws.attBlocksPerSm = attentionBlocksPerSm;
    if (attentionMaxSplits > 0) ws.attMaxSplits = Math.min(64, attentionMaxSplits);
    if (gemvWarpsPerSm > 0) gemm.gemvWarpsPerSm = gemvWarpsPerSm;
    ctx.makeCurrent();
    ctx.synchronize();
    decodeGraphs.closeAll();
  }

  /** Fewest keys per attn_dec split (benchmarks; see {@code prism.cuda.att-min-keys}); drops captured graphs. */
  public void attentionMinKeys(int keys) {
    if (keys < 8) throw new IllegalArgumentException("attention min keys must be >= 8, got " + keys);
    ws.attMinKeys = keys;
    ctx.makeCurrent();
    ctx.synchronize();
    decodeGraphs.closeAll();
  }

  /** Turns the per-shape tuned cuBLASLt GEMMs for decode batches (2..256 tokens, bf16) on or off; drops captured graphs. */
  public void tunedGemm(boolean on) {
    ctx.makeCurrent();
    ctx.synchronize();
    decodeGraphs.closeAll();
    gemm.useLt(on);
  }

  /** What the cuBLASLt search chose (benchmark logs); empty when off. */
  public String tunedGemmDescription() {
    return gemm.ltDescription();
  }

  /** Decode steps served by a CUDA graph replay so far. */
  public long graphReplays() {
    return decodeGraphs.replays();
  }

  /** Waits until the device finished all queued work of this backend. */
  public void synchronize() {
    ctx.makeCurrent();
    ctx.synchronize();
  }

  private void run(ForwardBatch batch, float[][] logits, int[] next) {
    checkRunnable();
    List<ForwardBatch.Entry> es = batch.entries();
    chunked.validate(es);
    chunked.run(es, logits, next);
    steps++;
  }

  private void checkRunnable() {
    if (closed) throw new IllegalStateException("backend is closed");
    if (!w.onDevice()) throw new IllegalStateException("weights of " + c.name() + " are evicted; activate them first");
  }

  /**
   * Chooses the layout inside each KV block (tests and benchmarks; property {@code
   * prism.cuda.kv-layout} = token | head): token-major ({@code [slot][kvDim]}, KvCache's picture)
   * or head-major ({@code [kvHead][slot][headDim]}: one KV head's rows of a block contiguous).
   * KV written under the other layout reads as garbage: switch before any prefill. Drops graphs.
   */
  public void kvLayout(boolean headMajor) {
    kernels.headMajorKv = headMajor;
    ctx.makeCurrent();
    ctx.synchronize();
    decodeGraphs.closeAll();
  }

  @Override
  public void close() {
    if (closed) return;
    closed = true;
    ctx.makeCurrent();
    ctx.synchronize();
    decodeGraphs.closeAll();
    ws.close(ctx);
    gemm.close();
    w.close();
    residency.dropHostCopy();
    profiling(false);
  }
}
