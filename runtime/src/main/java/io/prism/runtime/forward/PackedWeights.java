package io.prism.runtime.forward;

import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.model.ModelWeights;

/**
 * The matrices of one Llama-family checkpoint in {@link PackedMatrix} layout, as {@link
 * HostForwardBackend} multiplies them ({@link PackedGemm}): the attention projections, the SwiGLU
 * feed-forward and the classifier, one packed copy per layer. Vectors (embedding, norms, biases)
 * are not copied; the backend reads them from {@link ModelWeights}. Built once per load or reload,
 * in parallel over a {@link WorkerPool}; host memory is about that of the checkpoint's matrices
 * again while both copies are referenced.
 *
 * <p>Immutable after {@link #pack}; safe to read from the pool's workers at once.
 */
final class PackedWeights {
  /** Matrices per layer: Wq, Wk, Wv, Wo, W1, W2, W3. */
  private static final int PER_LAYER = 7;

  final PackedMatrix[] wq; // [layers] of [qDim, dim]
  final PackedMatrix[] wk; // [layers] of [kvDim, dim]
  final PackedMatrix[] wv; // [layers] of [kvDim, dim]
  final PackedMatrix[] wo; // [layers] of [dim, qDim]
  final PackedMatrix[] w1; // [layers] of [hidden, dim]
  final PackedMatrix[] w2; // [layers] of [dim, hidden]
  final PackedMatrix[] w3; // [layers] of [hidden, dim]
  final PackedMatrix classifier; // [vocab, dim]
  /** Bytes of all packed arrays. */
  final long bytes;

  private PackedWeights(PackedMatrix[] wq, PackedMatrix[] wk, PackedMatrix[] wv, PackedMatrix[] wo, PackedMatrix[] w1, PackedMatrix[] w2,
      PackedMatrix[] w3, PackedMatrix classifier) {
    this.wq = wq;
    this.wk = wk;
    this.wv = wv;
    this.wo = wo;
    this.w1 = w1;
    this.w2 = w2;
    this.w3 = w3;
    this.classifier = classifier;
    long b = classifier.bytes();
    for (int l = 0; l < wq.length; l++) {
      b += wq[l].bytes() + wk[l].bytes() + wv[l].bytes() + wo[l].bytes() + w1[l].bytes() + w2[l].bytes() + w3[l].bytes();
    }
    this.bytes = b;
  }

  /**
   * Packs every matrix of {@code weights}, shaped by {@code cfg}, one matrix per work item on
   * {@code pool} (the caller's thread included).
   *
   * @throws IllegalArgumentException if a matrix does not fit its array in {@code weights} ({@link PackedMatrix#pack})
   */
  static PackedWeights pack(ModelWeights weights, ModelConfig cfg, WorkerPool pool) {
    int layers = cfg.numLayers();
    int dim = cfg.dim(), qDim = cfg.qDim(), kvDim = cfg.kvDim(), hidden = cfg.hiddenDim();
    PackedMatrix[] q = new PackedMatrix[layers], k = new PackedMatrix[layers], v = new PackedMatrix[layers], o = new PackedMatrix[layers];
    PackedMatrix[] f1 = new PackedMatrix[layers], f2 = new PackedMatrix[layers], f3 = new PackedMatrix[layers];
    PackedMatrix[] cls = new PackedMatrix[1];
    pool.run(PER_LAYER * layers + 1, 1, (from, to, worker) -> {
      for (int i = from; i < to; i++) {
        int l = i / PER_LAYER;
        switch (i == PER_LAYER * layers ? -1 : i % PER_LAYER) {
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
    return new PackedWeights(q, k, v, o, f1, f2, f3, cls[0]);
  }
}
