package io.prism.runtime.model;

/**
 * Host (float32) weights of a Llama-family model, row-major, in llama2.c's orientation: a matrix
 * {@code W} of shape {@code [out, in]} computes {@code y[out] = W x[in]}.
 *
 * <p>Every per-layer matrix is one array of all layers concatenated (layer {@code l} starts at
 * {@code l * rows * cols}), exactly as in a llama2.c checkpoint. Arrays are shared, never copied;
 * treat them as read-only after load. Not thread-confined: safe to read from many threads.
 */
public final class ModelWeights {
  public final ModelConfig config;
  public final float[] tokenEmbedding; // [vocab, dim]
  public final float[] attnNorm; // [layers, dim]
  public final float[] wq; // [layers, qDim (= heads * headDim), dim]
  public final float[] wk; // [layers, kvDim, dim]
  public final float[] wv; // [layers, kvDim, dim]
  public final float[] wo; // [layers, dim, qDim]
  public final float[] ffnNorm; // [layers, dim]
  public final float[] w1; // [layers, hiddenDim, dim]  gate
  public final float[] w2; // [layers, dim, hiddenDim]  down
  public final float[] w3; // [layers, hiddenDim, dim]  up
  public final float[] finalNorm; // [dim]
  public final float[] classifier; // [vocab, dim]; the same array as tokenEmbedding when shared
  public final float[] bq; // [layers, qDim] q bias (Qwen2), else null
  public final float[] bk; // [layers, kvDim] k bias (Qwen2), else null
  public final float[] bv; // [layers, kvDim] v bias (Qwen2), else null
  public final float[] qNorm; // [layers, headDim] per-head q RMSNorm weight (Qwen3), else null
  public final float[] kNorm; // [layers, headDim] per-head k RMSNorm weight (Qwen3), else null

  /**
   * Weights of a model without q/k/v biases or q/k norms ({@link Architecture#LLAMA}, {@link
   * Architecture#MISTRAL}).
   *
   * @throws IllegalArgumentException naming the tensor whose length does not match {@code config},
   *     or when {@code config}'s architecture needs biases or q/k norms
   */
  public ModelWeights(
      ModelConfig config,
      float[] tokenEmbedding,
      float[] attnNorm,
      float[] wq,
      float[] wk,
      float[] wv,
      float[] wo,
      float[] ffnNorm,
      float[] w1,
      float[] w2,
      float[] w3,
      float[] finalNorm,
      float[] classifier) {
    this(config, tokenEmbedding, attnNorm, wq, wk, wv, wo, ffnNorm, w1, w2, w3, finalNorm, classifier, null, null, null, null, null);
  }

  /**
   * All weights. {@code bq}, {@code bk}, {@code bv} are present exactly when {@code
   * config.architecture().qkvBias()}, {@code qNorm} and {@code kNorm} exactly when {@code
   * qkNorm()}; absent ones are null. In q/k rows, biases and norm weights, the elements of each head
   * are in adjacent-pair RoPE order (see {@link SafetensorsLoader}).
   *
   * @throws IllegalArgumentException naming the tensor whose length does not match {@code config},
   *     or that is present or missing against the architecture
   */
  public ModelWeights(
      ModelConfig config,
      float[] tokenEmbedding,
      float[] attnNorm,
      float[] wq,
      float[] wk,
      float[] wv,
      float[] wo,
      float[] ffnNorm,
      float[] w1,
      float[] w2,
      float[] w3,
      float[] finalNorm,
      float[] classifier,
      float[] bq,
      float[] bk,
      float[] bv,
      float[] qNorm,
      float[] kNorm) {
    int l = config.numLayers(), d = config.dim(), h = config.hiddenDim(), kv = config.kvDim(), v = config.vocabSize(), qd = config.qDim();
    check("token_embedding", tokenEmbedding, (long) v * d);
    check("attn_norm", attnNorm, (long) l * d);
    check("wq", wq, (long) l * qd * d);
    check("wk", wk, (long) l * kv * d);
    check("wv", wv, (long) l * kv * d);
    check("wo", wo, (long) l * d * qd);
    check("ffn_norm", ffnNorm, (long) l * d);
    check("w1", w1, (long) l * h * d);
    check("w2", w2, (long) l * d * h);
    check("w3", w3, (long) l * h * d);
    check("final_norm", finalNorm, d);
    check("classifier", classifier, (long) v * d);
    Architecture a = config.architecture();
    optional(a, a.qkvBias(), "q bias", bq, (long) l * qd);
    optional(a, a.qkvBias(), "k bias", bk, (long) l * kv);
    optional(a, a.qkvBias(), "v bias", bv, (long) l * kv);
    optional(a, a.qkNorm(), "q norm", qNorm, (long) l * config.headDim());
    optional(a, a.qkNorm(), "k norm", kNorm, (long) l * config.headDim());
    this.bq = bq;
    this.bk = bk;
    this.bv = bv;
    this.qNorm = qNorm;
    this.kNorm = kNorm;
    this.config = config;
    this.tokenEmbedding = tokenEmbedding;
    this.attnNorm = attnNorm;
    this.wq = wq;
    this.wk = wk;
    this.wv = wv;
    this.wo = wo;
    this.ffnNorm = ffnNorm;
    this.w1 = w1;
    this.w2 = w2;
    this.w3 = w3;
    this.finalNorm = finalNorm;
    this.classifier = classifier;
  }

  private static void check(String name, float[] a, long expected) {
    if (a == null) throw new IllegalArgumentException("tensor " + name + " is missing");
    if (a.length != expected) {
      throw new IllegalArgumentException("tensor " + name + ": expected " + expected + " elements, found " + a.length);
    }
  }

  private static void optional(Architecture a, boolean wanted, String name, float[] t, long expected) {
    if (wanted) {
      check(name, t, expected);
    } else if (t != null) {
      throw new IllegalArgumentException("tensor " + name + " is not part of architecture " + a.label());
    }
  }

  /** Bytes these weights occupy as float32 (the classifier counted once when shared). */
  public long bytes() {
    return config.parameterCount() * Float.BYTES;
  }
}
