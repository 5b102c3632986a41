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
  public final float[] wq; // [layers, dim (= heads * headDim), dim]
  public final float[] wk; // [layers, kvDim, dim]
  public final float[] wv; // [layers, kvDim, dim]
  public final float[] wo; // [layers, dim, dim]
  public final float[] ffnNorm; // [layers, dim]
  public final float[] w1; // [layers, hiddenDim, dim]  gate
  public final float[] w2; // [layers, dim, hiddenDim]  down
  public final float[] w3; // [layers, hiddenDim, dim]  up
  public final float[] finalNorm; // [dim]
  public final float[] classifier; // [vocab, dim]; the same array as tokenEmbedding when shared

  /**
   * @throws IllegalArgumentException naming the tensor whose length does not match {@code config}
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
    int l = config.numLayers(), d = config.dim(), h = config.hiddenDim(), kv = config.kvDim(), v = config.vocabSize();
    check("token_embedding", tokenEmbedding, (long) v * d);
    check("attn_norm", attnNorm, (long) l * d);
    check("wq", wq, (long) l * d * d);
    check("wk", wk, (long) l * kv * d);
    check("wv", wv, (long) l * kv * d);
    check("wo", wo, (long) l * d * d);
    check("ffn_norm", ffnNorm, (long) l * d);
    check("w1", w1, (long) l * h * d);
    check("w2", w2, (long) l * d * h);
    check("w3", w3, (long) l * h * d);
    check("final_norm", finalNorm, d);
    check("classifier", classifier, (long) v * d);
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

  /** Bytes these weights occupy as float32 (the classifier counted once when shared). */
  public long bytes() {
    return config.parameterCount() * Float.BYTES;
  }
}
