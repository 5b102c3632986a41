package io.prism.runtime.forward;

import io.prism.runtime.engine.ForwardBackend;
import io.prism.runtime.engine.ForwardBatch;
import io.prism.runtime.memory.HostDeviceMemory;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.model.ModelWeights;
import java.util.List;

/**
 * The float32 forward pass of a Llama-family model ({@link io.prism.runtime.model.Architecture}:
 * Llama, Mistral, Qwen2, Qwen3) on the host, over a paged {@link KvCache} whose
 * pages live in a {@link HostDeviceMemory}. Semantics are llama2.c's {@code forward()} (Karpathy,
 * {@code run.c}, MIT), extended to many sequences and many tokens per sequence in one step:
 *
 * <pre>
 *   x = embedding[token]                                  // [T, dim], T = tokens of the whole step
 *   per layer l:
 *     xb = rmsnorm(x, attnNorm[l])
 *     q, k, v = xb Wq^T, xb Wk^T, xb Wv^T                 // one GEMM section: [T, qDim + 2 kvDim]
 *     q += bq, k += bk, v += bv                            // Qwen2 only
 *     q, k = rmsnorm(each head, qNorm[l] / kNorm[l])       // Qwen3 only, [headDim] weights
 *     rope(q), rope(k) at each token's position; k, v -> (block table[pos / blockSize], pos % blockSize)
 *     per (token, head): softmax(q . K[0..pos] / sqrt(headDim)) . V[0..pos]   // GQA: kv head = head / group
 *     x += att Wo^T                                        // att: [T, qDim]
 *     xb = rmsnorm(x, ffnNorm[l]);  x += (silu(xb W1^T) * (xb W3^T)) W2^T
 *   logits = rmsnorm(x_last, finalNorm) classifier^T       // only for entries that want logits
 * </pre>
 *
 * <p>RoPE rotates adjacent pairs {@code (2j, 2j + 1)} of each head by {@code pos * theta^(-2j /
 * headDim)}, with Llama-3 frequency scaling when {@link ModelConfig#ropeScaling()} is set.
 * Attention within a prefill chunk is causal: K and V of every token of the step are written to the
 * cache before any token attends, and token {@code i} of an entry reads positions {@code [0,
 * startPos + i]}.
 *
 * <p>Matrix products run as {@link PackedGemm#gemm} over all tokens of the step, split by output
 * row blocks across a {@link WorkerPool} of {@code threads} threads (the caller included), so each weight
 * is read from memory once per step whatever the batch. The backend keeps its own copy of every
 * matrix in {@link PackedMatrix} layout ({@link PackedWeights}), built once in the constructor, and
 * of the checkpoint only its vectors (embedding, norms, biases): the unpacked matrices are not
 * referenced once packed, so the host memory of an instance is its {@link #weightBytes()}. Attention
 * over the paged cache is {@link PagedAttention}'s; a step's activations live in {@link
 * StepBuffers}; this class orchestrates the layers. Results are bit-for-bit independent of batch
 * composition and of how a prompt is chunked.
 *
 * <p>Threading: {@link #forward} is called from one thread at a time (the engine thread). The KV
 * cache is not closed by {@link #close()}; its owner closes it.
 */
public final class HostForwardBackend implements ForwardBackend {
  private Vectors w; // the checkpoint's vectors; null while evicted without a host copy

  /** What the backend reads of a checkpoint besides its packed matrices (absent ones null). */
  private record Vectors(float[] tokenEmbedding, float[] attnNorm, float[] ffnNorm, float[] finalNorm, float[] bq, float[] bk, float[] bv,
      float[] qNorm, float[] kNorm) {
    static Vectors of(ModelWeights m) {
      return new Vectors(m.tokenEmbedding, m.attnNorm, m.ffnNorm, m.finalNorm, m.bq, m.bk, m.bv, m.qNorm, m.kNorm);
    }
  }
  private final ModelConfig c;
  private final KvCache kv;
  private final HostDeviceMemory memory;
  private final WorkerPool pool;
  private final int dim;
  private final int qDim;
  private final int kvDim;
  private final int headDim;
  private final int hidden;
  private final float[] invFreq; // [headDim / 2]
  private final PagedAttention attention;
  private PackedWeights packed; // the matrices in PackedMatrix layout; null while evicted without a host copy
  private final long weightBytes;
  private boolean resident = true;
  private final StepBuffers buffers;

  /**
   * @param weights float32 weights (shared, read-only)
   * @param kv the model instance's KV cache; its memory must be a {@link HostDeviceMemory} and its
   *     elements float32
   * @param threads threads for the parallel sections, the caller included (>= 1)
   * @throws IllegalArgumentException if the cache is not a host float32 cache of this model's shape,
   *     or {@code threads < 1}
   */
  public HostForwardBackend(ModelWeights weights, KvCache kv, int threads) {
    if (weights == null) throw new IllegalArgumentException("weights must not be null (model has no host weights)");
    if (!(kv.memory() instanceof HostDeviceMemory hm)) {
      throw new IllegalArgumentException("the host backend needs a KV cache in HostDeviceMemory, got " + kv.memory().getClass().getName());
    }
    if (kv.elementBytes() != Float.BYTES) {
      throw new IllegalArgumentException("the host backend stores float32 KV elements; cache has elementBytes " + kv.elementBytes());
    }
    ModelConfig cfg = weights.config;
    if (kv.config().numLayers() != cfg.numLayers() || kv.config().kvDim() != cfg.kvDim()) {
      throw new IllegalArgumentException("KV cache shape (" + kv.config().numLayers() + " layers, kvDim " + kv.config().kvDim()
          + ") does not match model " + cfg.name() + " (" + cfg.numLayers() + " layers, kvDim " + cfg.kvDim() + ")");
    }
    this.w = Vectors.of(weights);
    this.c = cfg;
    this.kv = kv;
    this.memory = hm;
    this.pool = new WorkerPool(threads);
    this.dim = cfg.dim();
    this.qDim = cfg.qDim();
    this.kvDim = cfg.kvDim();
    this.headDim = cfg.headDim();
    this.hidden = cfg.hiddenDim();
    this.invFreq = RopeFrequencies.inverseFrequencies(cfg);
    this.attention = new PagedAttention(cfg, kv.blockSize(), kv.blocksPerPage(), threads);
    this.buffers = new StepBuffers(cfg);
    this.packed = PackedWeights.pack(weights, cfg, pool);
    long vectors = (long) cfg.numLayers() * 2 * dim + dim
        + (weights.bq != null ? (long) cfg.numLayers() * (qDim + 2L * kvDim) : 0)
        + (weights.qNorm != null ? 2L * cfg.numLayers() * headDim : 0);
    this.weightBytes = packed.bytes + ((long) cfg.vocabSize() * dim + vectors) * Float.BYTES;
  }

  @Override
  public ModelConfig config() {
    return c;
  }

  @Override
  public KvCache kvCache() {
    return kv;
  }

  /** Bytes of the packed matrices plus the embedding, norms and biases this backend reads. */
  @Override
  public long weightBytes() {
    return weightBytes;
  }

  @Override
  public boolean weightsResident() {
    return resident;
  }

  /**
   * Marks the weights evicted. On the host the "device" copy is the host arrays themselves, so
   * nothing is copied; while evicted they count as the host copy ({@link #hostCopyBytes()}). The
   * caller releases the weight bytes from the pool's accounting.
   */
  @Override
  public void evictWeights() {
    resident = false;
  }

  /** The packed matrices and the weight arrays while evicted with them kept; 0 when resident or dropped. */
  @Override
  public long hostCopyBytes() {
    return !resident && w != null ? weightBytes : 0;
  }

  /**
   * While evicted, lets go of the packed matrices and of the weight arrays (the garbage collector
   * frees them once no other instance shares them), so activation must reload the model. No-op
   * when resident (its arrays are its device copy) or already dropped.
   */
  @Override
  public void dropHostCopy() {
    if (resident || w == null) return;
    packed = null;
    w = null;
  }

  @Override
  public boolean needsReload() {
    return !resident && w == null;
  }

  /**
   * Marks the weights resident again (the host arrays never left).
   *
   * @throws IllegalStateException if the host copy was dropped ({@link #needsReload()}): use {@link #activateWeights(LoadedModel)}
   */
  @Override
  public void activateWeights() {
    if (needsReload()) throw new IllegalStateException("the host copy of " + c.name() + " was dropped; activate it with the model read again");
    resident = true;
  }

  /**
   * Activates; if the host copy was dropped, packs {@code source}'s weights again first (the model
   * read again from its file, or regenerated from the seed for {@code random:}).
   *
   * @throws IllegalArgumentException if a reload is needed and {@code source} is null, has no host
   *     weights or another shape
   */
  @Override
  public void activateWeights(LoadedModel source) {
    if (needsReload()) {
      if (source == null || source.weights() == null) throw new IllegalArgumentException("reloading " + c.name() + " needs its host weights");
      ModelConfig s = source.weights().config;
      if (s.numLayers() != c.numLayers() || s.dim() != c.dim() || s.kvDim() != c.kvDim() || s.hiddenDim() != c.hiddenDim()
          || s.vocabSize() != c.vocabSize()) {
        throw new IllegalArgumentException("reloaded model " + s.name() + " has another shape than " + c.name());
      }
      packed = PackedWeights.pack(source.weights(), c, pool);
      w = Vectors.of(source.weights());
    }
    resident = true;
  }

  /** Threads running each parallel section, the caller included. */
  public int threads() {
    return pool.threads();
  }

  @Override
  public void forward(ForwardBatch batch, float[][] logits) {
    if (!resident) throw new IllegalStateException("weights of " + c.name() + " are evicted; activate them before a forward pass");
    List<ForwardBatch.Entry> entries = batch.entries();
    int numTokens = BatchChecks.validate(entries, logits, c, kv);
    if (numTokens == 0) return;
    final StepBuffers s = buffers;
    final PackedWeights pw = packed;
    s.ensureTokens(numTokens);
    final int T = numTokens;
    // Embed tokens, record positions and rotary angles.
    int half = headDim / 2;
    int t = 0;
    for (int e = 0; e < entries.size(); e++) {
      ForwardBatch.Entry en = entries.get(e);
      for (int i = 0; i < en.tokens().length; i++, t++) {
        System.arraycopy(w.tokenEmbedding(), en.tokens()[i] * dim, s.x, t * dim, dim);
        int p = en.startPos() + i;
        s.pos[t] = p;
        s.entryOf[t] = e;
        for (int j = 0; j < half; j++) {
          float angle = p * invFreq[j];
          s.cos[t * half + j] = (float) Math.cos(angle);
          s.sin[t * half + j] = (float) Math.sin(angle);
        }
      }
    }
    final int pq = pw.wq[0].blocks(), pkv = pw.wk[0].blocks(), ph = pw.w1[0].blocks(), pd = pw.wo[0].blocks();
    for (int l = 0; l < c.numLayers(); l++) {
      final int layer = l;
      for (int i = 0; i < T; i++) HostKernels.rmsnorm(s.xb, i * dim, s.x, i * dim, w.attnNorm(), layer * dim, dim, c.normEps());
      final float[] in1 = s.gemmInput(s.xb, T, dim);
      final PackedMatrix mq = pw.wq[l], mk = pw.wk[l], mv = pw.wv[l];
      pool.run(pq + 2 * pkv, blockChunk(pq + 2 * pkv), (from, to, worker) -> {
        segment(mq, in1, T, s.q, qDim, from, to, 0);
        segment(mk, in1, T, s.k, kvDim, from, to, pq);
        segment(mv, in1, T, s.v, kvDim, from, to, pq + pkv);
      });
      for (int i = 0; i < T; i++) {
        if (w.bq() != null) {
          HostKernels.add(s.q, i * qDim, w.bq(), layer * qDim, qDim);
          HostKernels.add(s.k, i * kvDim, w.bk(), layer * kvDim, kvDim);
          HostKernels.add(s.v, i * kvDim, w.bv(), layer * kvDim, kvDim);
        }
        if (w.qNorm() != null) {
          HostKernels.headNorm(s.q, i * qDim, qDim, headDim, w.qNorm(), layer * headDim, c.normEps());
          HostKernels.headNorm(s.k, i * kvDim, kvDim, headDim, w.kNorm(), layer * headDim, c.normEps());
        }
        HostKernels.rope(s.q, i * qDim, qDim, headDim, s.cos, s.sin, i * half);
        HostKernels.rope(s.k, i * kvDim, kvDim, headDim, s.cos, s.sin, i * half);
      }
      final float[][] kPages = memory.pageArrays(kv.keys(layer));
      final float[][] vPages = memory.pageArrays(kv.values(layer));
      attention.writeKv(entries, s.entryOf, s.pos, T, s.k, s.v, kPages, vPages);
      // Work items: (token, run of heads); whole tokens when there are enough tokens to keep every thread busy.
      final int headsPerItem = Math.max(1, Math.min(c.numHeads(), c.numHeads() * T / (4 * pool.threads())));
      final int itemsPerToken = (c.numHeads() + headsPerItem - 1) / headsPerItem;
      pool.run(T * itemsPerToken, 1, (from, to, worker) -> {
        for (int item = from; item < to; item++) {
          int tok = item / itemsPerToken, h0 = (item % itemsPerToken) * headsPerItem;
          attention.attend(entries.get(s.entryOf[tok]).blockTable(), s.pos[tok], tok, h0, Math.min(c.numHeads(), h0 + headsPerItem), s.q, kPages, vPages,
              s.att, worker);
        }
      });
      final float[] in2 = s.gemmInput(s.att, T, qDim);
      final PackedMatrix mo = pw.wo[l];
      pool.run(pd, blockChunk(pd), (from, to, worker) -> PackedGemm.gemm(mo, in2, T, s.x, 0, dim, from, to, true));
      for (int i = 0; i < T; i++) HostKernels.rmsnorm(s.xb, i * dim, s.x, i * dim, w.ffnNorm(), layer * dim, dim, c.normEps());
      final float[] in3 = s.gemmInput(s.xb, T, dim);
      final PackedMatrix m1 = pw.w1[l], m3 = pw.w3[l];
      pool.run(ph, blockChunk(ph), (from, to, worker) -> {
        PackedGemm.gemm(m1, in3, T, s.hb, 0, hidden, from, to, false);
        PackedGemm.gemm(m3, in3, T, s.hb2, 0, hidden, from, to, false);
        int r0 = from * PackedMatrix.BLOCK, r1 = Math.min(hidden, to * PackedMatrix.BLOCK);
        for (int i = 0; i < T; i++) HostKernels.siluMul(s.hb, i * hidden + r0, s.hb2, i * hidden + r0, r1 - r0);
      });
      final float[] in4 = s.gemmInput(s.hb, T, hidden);
      final PackedMatrix m2 = pw.w2[l];
      pool.run(pd, blockChunk(pd), (from, to, worker) -> PackedGemm.gemm(m2, in4, T, s.x, 0, dim, from, to, true));
    }
    classify(entries, logits, s, pw.classifier);
  }

  /** Final norm and classifier for the last token of each entry that wants logits. */
  private void classify(List<ForwardBatch.Entry> entries, float[][] logits, StepBuffers s, PackedMatrix classifier) {
    int rows = 0;
    for (ForwardBatch.Entry e : entries) if (e.wantLogits()) rows++;
    if (rows == 0) return;
    int vocab = c.vocabSize();
    s.ensureLogitRows(rows, vocab);
    int r = 0, t = 0;
    for (ForwardBatch.Entry e : entries) {
      t += e.tokens().length;
      if (e.wantLogits()) HostKernels.rmsnorm(s.finalX, r++ * dim, s.x, (t - 1) * dim, w.finalNorm(), 0, dim, c.normEps());
    }
    final int R = rows;
    final float[] in = s.gemmInput(s.finalX, R, dim);
    final float[] out = s.logits;
    pool.run(classifier.blocks(), blockChunk(classifier.blocks()), (from, to, worker) ->
        PackedGemm.gemm(classifier, in, R, out, 0, vocab, from, to, false));
    r = 0;
    for (int e = 0; e < entries.size(); e++) {
      if (entries.get(e).wantLogits()) System.arraycopy(out, r++ * vocab, logits[e], 0, vocab);
    }
  }

  /** Blocks {@code [from, to)} of the concatenated Q|K|V block space, restricted to the matrix whose blocks start at {@code start}. */
  private static void segment(PackedMatrix m, float[] in, int T, float[] y, int yStride, int from, int to, int start) {
    int a = Math.max(from, start) - start, b = Math.min(to, start + m.blocks()) - start;
    if (a < b) PackedGemm.gemm(m, in, T, y, 0, yStride, a, b, false);
  }

  /** Output-row blocks per work item of a GEMM over {@code blocks} blocks: about four items per thread, an even count, at least 2. */
  private int blockChunk(int blocks) {
    int target = Math.max(2, blocks / (pool.threads() * 4));
    return (target + 1) & ~1;
  }

  /** Stops the worker threads. The KV cache stays open (its owner closes it). */
  @Override
  public void close() {
    pool.close();
  }
}
