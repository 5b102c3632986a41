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
 * matrix in {@link PackedMatrix} layout, built once in the constructor: host memory for weights is
 * about twice the checkpoint's while both copies are referenced. Results are bit-for-bit
 * independent of batch composition and of how a prompt is chunked.
 *
 * <p>Threading: {@link #forward} is called from one thread at a time (the engine thread). The KV
 * cache is not closed by {@link #close()}; its owner closes it.
 */
public final class HostForwardBackend implements ForwardBackend {
  private ModelWeights w; // null while evicted without a host copy
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
  // Packed copies of the matrices (PackedMatrix layout), one per layer.
  private PackedMatrix[] wq; // [layers] of [qDim, dim]
  private PackedMatrix[] wk; // [layers] of [kvDim, dim]
  private PackedMatrix[] wv; // [layers] of [kvDim, dim]
  private PackedMatrix[] wo; // [layers] of [dim, qDim]
  private PackedMatrix[] w1; // [layers] of [hidden, dim]
  private PackedMatrix[] w2; // [layers] of [dim, hidden]
  private PackedMatrix[] w3; // [layers] of [hidden, dim]
  private PackedMatrix classifier; // [vocab, dim]
  private long packedBytes;
  private final long weightBytes;
  private boolean resident = true;

  // Step buffers, grown on demand ([capTokens, width] row-major).
  private int capTokens;
  private float[] x; // [T, dim] residual stream
  private float[] xb; // [T, dim] normed input / attention output
  private float[] q; // [T, qDim]
  private float[] att; // [T, qDim] attention output
  private float[] k; // [T, kvDim]
  private float[] v; // [T, kvDim]
  private float[] hb; // [T, hidden]
  private float[] hb2; // [T, hidden]
  private float[] xt; // [max(dim, qDim, hidden), T] the current GEMM input, tokens innermost
  private float[] cos; // [T, headDim / 2]
  private float[] sin; // [T, headDim / 2]
  private int[] pos; // [T] position of each token
  private int[] entryOf; // [T] entry index of each token
  private float[] logitsBuf = new float[0]; // [R, vocab]
  private float[] finalX = new float[0]; // [R, dim]

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
    this.w = weights;
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
    pack(weights);
    long vectors = (long) cfg.numLayers() * 2 * dim + dim
        + (weights.bq != null ? (long) cfg.numLayers() * (qDim + 2L * kvDim) : 0)
        + (weights.qNorm != null ? 2L * cfg.numLayers() * headDim : 0);
    this.weightBytes = packedBytes + ((long) cfg.vocabSize() * dim + vectors) * Float.BYTES;
  }

  /** Packs every matrix of {@code weights} ({@link PackedMatrix} layout) in parallel. */
  private void pack(ModelWeights weights) {
    ModelConfig cfg = c;
    int layers = cfg.numLayers();
    PackedMatrix[] q = new PackedMatrix[layers], k = new PackedMatrix[layers], v = new PackedMatrix[layers], o = new PackedMatrix[layers];
    PackedMatrix[] f1 = new PackedMatrix[layers], f2 = new PackedMatrix[layers], f3 = new PackedMatrix[layers];
    PackedMatrix[] cls = new PackedMatrix[1];
    pool.run(7 * layers + 1, 1, (from, to, worker) -> {
      for (int i = from; i < to; i++) {
        int l = i / 7;
        switch (i == 7 * layers ? -1 : i % 7) {
          case -1 -> cls[0] = PackedMatrix.pack(weights.classifier, 0, cfg.vocabSize(), dim);
          case 0 -> q[l] = PackedMatrix.pack(weights.wq, (long) l * qDim * dim, qDim, dim);
          case 1 -> k[l] = PackedMatrix.pack(weights.wk, (long) l * kvDim * dim, kvDim, dim);
          case 2 -> v[l] = PackedMatrix.pack(weights.wv, (long) l * kvDim * dim, kvDim, dim);
          case 3 -> o[l] = PackedMatrix.pack(weights.wo, (long) l * dim * qDim, dim, qDim);
          case 4 -> f1[l] = PackedMatrix.pack(weights.w1, (long) l * hidden * dim, hidden, dim);
          case 5 -> f2[l] = PackedMatrix.pack(weights.w2, (long) l * dim * hidden, dim, hidden);
          default -> f3[l] = PackedMatrix.pack(weights.w3, (long) l * hidden * dim, hidden, dim);
        }
      }
    });
    wq = q;
    wk = k;
    wv = v;
    wo = o;
    w1 = f1;
    w2 = f2;
    w3 = f3;
    classifier = cls[0];
    long bytes = classifier.bytes();
    for (int l = 0; l < layers; l++) {
      bytes += wq[l].bytes() + wk[l].bytes() + wv[l].bytes() + wo[l].bytes() + w1[l].bytes() + w2[l].bytes() + w3[l].bytes();
    }
    packedBytes = bytes;
    w = weights;
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
    wq = wk = wv = wo = w1 = w2 = w3 = null;
    classifier = null;
    packedBytes = 0;
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
      pack(source.weights());
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
    ensureCapacity(numTokens);
    final int T = numTokens;
    // Embed tokens, record positions and rotary angles.
    int half = headDim / 2;
    int t = 0;
    for (int e = 0; e < entries.size(); e++) {
      ForwardBatch.Entry en = entries.get(e);
      for (int i = 0; i < en.tokens().length; i++, t++) {
        System.arraycopy(w.tokenEmbedding, en.tokens()[i] * dim, x, t * dim, dim);
        int p = en.startPos() + i;
        pos[t] = p;
        entryOf[t] = e;
        for (int j = 0; j < half; j++) {
          float angle = p * invFreq[j];
          cos[t * half + j] = (float) Math.cos(angle);
          sin[t * half + j] = (float) Math.sin(angle);
        }
      }
    }
    final int pq = wq[0].blocks(), pkv = wk[0].blocks(), ph = w1[0].blocks(), pd = wo[0].blocks();
    for (int l = 0; l < c.numLayers(); l++) {
      final int layer = l;
      for (int i = 0; i < T; i++) HostKernels.rmsnorm(xb, i * dim, x, i * dim, w.attnNorm, layer * dim, dim, c.normEps());
      final float[] in1 = input(xb, T, dim);
      final PackedMatrix mq = wq[l], mk = wk[l], mv = wv[l];
      pool.run(pq + 2 * pkv, blockChunk(pq + 2 * pkv), (from, to, worker) -> {
        segment(mq, in1, T, q, qDim, from, to, 0);
        segment(mk, in1, T, k, kvDim, from, to, pq);
        segment(mv, in1, T, v, kvDim, from, to, pq + pkv);
      });
      for (int i = 0; i < T; i++) {
        if (w.bq != null) {
          HostKernels.add(q, i * qDim, w.bq, layer * qDim, qDim);
          HostKernels.add(k, i * kvDim, w.bk, layer * kvDim, kvDim);
          HostKernels.add(v, i * kvDim, w.bv, layer * kvDim, kvDim);
        }
        if (w.qNorm != null) {
          HostKernels.headNorm(q, i * qDim, qDim, headDim, w.qNorm, layer * headDim, c.normEps());
          HostKernels.headNorm(k, i * kvDim, kvDim, headDim, w.kNorm, layer * headDim, c.normEps());
        }
        HostKernels.rope(q, i * qDim, qDim, headDim, cos, sin, i * half);
        HostKernels.rope(k, i * kvDim, kvDim, headDim, cos, sin, i * half);
      }
      final float[][] kPages = memory.pageArrays(kv.keys(layer));
      final float[][] vPages = memory.pageArrays(kv.values(layer));
      attention.writeKv(entries, entryOf, pos, T, k, v, kPages, vPages);
      // Work items: (token, run of heads); whole tokens when there are enough tokens to keep every thread busy.
      final int headsPerItem = Math.max(1, Math.min(c.numHeads(), c.numHeads() * T / (4 * pool.threads())));
      final int itemsPerToken = (c.numHeads() + headsPerItem - 1) / headsPerItem;
      pool.run(T * itemsPerToken, 1, (from, to, worker) -> {
        for (int item = from; item < to; item++) {
          int tok = item / itemsPerToken, h0 = (item % itemsPerToken) * headsPerItem;
          attention.attend(entries.get(entryOf[tok]).blockTable(), pos[tok], tok, h0, Math.min(c.numHeads(), h0 + headsPerItem), q, kPages, vPages, att,
              worker);
        }
      });
      final float[] in2 = input(att, T, qDim);
      final PackedMatrix mo = wo[l];
      pool.run(pd, blockChunk(pd), (from, to, worker) -> PackedGemm.gemm(mo, in2, T, x, 0, dim, from, to, true));
      for (int i = 0; i < T; i++) HostKernels.rmsnorm(xb, i * dim, x, i * dim, w.ffnNorm, layer * dim, dim, c.normEps());
      final float[] in3 = input(xb, T, dim);
      final PackedMatrix m1 = w1[l], m3 = w3[l];
      pool.run(ph, blockChunk(ph), (from, to, worker) -> {
        PackedGemm.gemm(m1, in3, T, hb, 0, hidden, from, to, false);
        PackedGemm.gemm(m3, in3, T, hb2, 0, hidden, from, to, false);
        int r0 = from * PackedMatrix.BLOCK, r1 = Math.min(hidden, to * PackedMatrix.BLOCK);
        for (int i = 0; i < T; i++) HostKernels.siluMul(hb, i * hidden + r0, hb2, i * hidden + r0, r1 - r0);
      });
      final float[] in4 = input(hb, T, hidden);
      final PackedMatrix m2 = w2[l];
      pool.run(pd, blockChunk(pd), (from, to, worker) -> PackedGemm.gemm(m2, in4, T, x, 0, dim, from, to, true));
    }
    classify(entries, logits);
  }

  /** Final norm and classifier for the last token of each entry that wants logits. */
  private void classify(List<ForwardBatch.Entry> entries, float[][] logits) {
    int rows = 0;
    for (ForwardBatch.Entry e : entries) if (e.wantLogits()) rows++;
    if (rows == 0) return;
    int vocab = c.vocabSize();
    if (finalX.length < rows * dim) finalX = new float[rows * dim];
    if (logitsBuf.length < (long) rows * vocab) logitsBuf = new float[rows * vocab];
    int r = 0, t = 0;
    for (ForwardBatch.Entry e : entries) {
      t += e.tokens().length;
      if (e.wantLogits()) HostKernels.rmsnorm(finalX, r++ * dim, x, (t - 1) * dim, w.finalNorm, 0, dim, c.normEps());
    }
    final int R = rows;
    final float[] in = input(finalX, R, dim);
    pool.run(classifier.blocks(), blockChunk(classifier.blocks()), (from, to, worker) ->
        PackedGemm.gemm(classifier, in, R, logitsBuf, 0, vocab, from, to, false));
    r = 0;
    for (int e = 0; e < entries.size(); e++) {
      if (entries.get(e).wantLogits()) System.arraycopy(logitsBuf, r++ * vocab, logits[e], 0, vocab);
    }
  }

  /** Blocks {@code [from, to)} of the concatenated Q|K|V block space, restricted to the matrix whose blocks start at {@code start}. */
  private static void segment(PackedMatrix m, float[] in, int T, float[] y, int yStride, int from, int to, int start) {
    int a = Math.max(from, start) - start, b = Math.min(to, start + m.blocks()) - start;
    if (a < b) PackedGemm.gemm(m, in, T, y, 0, yStride, a, b, false);
  }

  /** The GEMM input for {@code T} tokens of width {@code cols}: {@code a} itself for one token, else its transpose in {@link #xt}. */
  private float[] input(float[] a, int T, int cols) {
    if (T == 1) return a;
    if (xt.length < T * cols) xt = new float[T * cols];
    PackedGemm.transpose(a, 0, cols, T, cols, xt);
    return xt;
  }

  private int blockChunk(int blocks) {
    int target = Math.max(2, blocks / (pool.threads() * 4));
    return (target + 1) & ~1;
  }

  private void ensureCapacity(int T) {
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
    cos = new float[cap * (headDim / 2)];
    sin = new float[cap * (headDim / 2)];
    pos = new int[cap];
    entryOf = new int[cap];
    capTokens = cap;
  }

  /** Stops the worker threads. The KV cache stays open (its owner closes it). */
  @Override
  public void close() {
    pool.close();
  }
}
