package io.prism.runtime.model;

/**
 * Shape and numerical parameters of a Llama-family decoder-only transformer ({@link Architecture}).
 *
 * <p>Sources: llama2.c's {@code Config} (the 7 int32 header fields), GGUF {@code <arch>.*} metadata
 * keys, Hugging Face {@code LlamaConfig} / {@code Qwen2Config} / {@code Qwen3Config} / {@code
 * MistralConfig}. All sizes are element counts, not bytes.
 *
 * <p>The query width {@link #qDim()} is {@code numHeads * headDim}; it equals {@code dim} except in
 * models whose config sets {@code head_dim} apart from {@code hidden_size / num_attention_heads}
 * (Qwen3 0.6B and 4B: 1024 wide, 16 heads of 128).
 *
 * @param name human-readable shape or file name, e.g. {@code stories260K}, {@code llama-3.1-8b}
 * @param architecture family: which extra tensors (q/k/v bias, q/k norm) the model has
 * @param dim model width ({@code hidden_size})
 * @param hiddenDim feed-forward width ({@code intermediate_size})
 * @param numLayers transformer blocks
 * @param numHeads query heads
 * @param numKvHeads key/value heads ({@code numHeads % numKvHeads == 0}; grouped-query attention)
 * @param headDim elements per attention head (even, for RoPE)
 * @param vocabSize tokens in the classifier
 * @param maxSeqLen maximum context length in tokens (prompt plus generated)
 * @param ropeTheta RoPE base (10000 for Llama 2, 500000 for Llama 3, 1000000 for Qwen2.5)
 * @param ropeScaling Llama-3 frequency scaling, or {@code null} for none
 * @param normEps RMSNorm epsilon (1e-5 for llama2.c and Llama 3, 1e-6 for Qwen2.5)
 * @param sharedClassifier true when the output classifier reuses the token embedding table
 * @throws IllegalArgumentException naming the first field that is not positive or not consistent
 */
public record ModelConfig(
    String name,
    Architecture architecture,
    int dim,
    int hiddenDim,
    int numLayers,
    int numHeads,
    int numKvHeads,
    int headDim,
    int vocabSize,
    int maxSeqLen,
    float ropeTheta,
    RopeScaling ropeScaling,
    float normEps,
    boolean sharedClassifier) {

  public ModelConfig {
    if (architecture == null) throw new IllegalArgumentException("architecture must not be null");
    positive("dim", dim);
    positive("hiddenDim", hiddenDim);
    positive("numLayers", numLayers);
    positive("numHeads", numHeads);
    positive("numKvHeads", numKvHeads);
    positive("headDim", headDim);
    if (headDim % 2 != 0) throw new IllegalArgumentException("headDim must be even (RoPE rotates pairs), got " + headDim);
    positive("vocabSize", vocabSize);
    positive("maxSeqLen", maxSeqLen);
    if (numHeads % numKvHeads != 0) {
      throw new IllegalArgumentException("numHeads " + numHeads + " is not a multiple of numKvHeads " + numKvHeads);
    }
    if (!(ropeTheta > 0)) throw new IllegalArgumentException("ropeTheta must be > 0, got " + ropeTheta);
    if (!(normEps > 0)) throw new IllegalArgumentException("normEps must be > 0, got " + normEps);
  }

  /**
   * A Llama-architecture shape whose head dim is {@code dim / numHeads} (llama2.c, Llama GGUF files,
   * random shapes).
   *
   * @throws IllegalArgumentException also when {@code dim} is not a multiple of {@code numHeads}
   */
  public ModelConfig(String name, int dim, int hiddenDim, int numLayers, int numHeads, int numKvHeads, int vocabSize, int maxSeqLen,
      float ropeTheta, RopeScaling ropeScaling, float normEps, boolean sharedClassifier) {
    this(name, Architecture.LLAMA, dim, hiddenDim, numLayers, numHeads, numKvHeads, headDimOf(dim, numHeads), vocabSize, maxSeqLen,
        ropeTheta, ropeScaling, normEps, sharedClassifier);
  }

  private static int headDimOf(int dim, int numHeads) {
    positive("numHeads", numHeads);
    if (dim % numHeads != 0) throw new IllegalArgumentException("dim " + dim + " is not a multiple of numHeads " + numHeads);
    return dim / numHeads;
  }

  /** The same shape with another architecture. */
  public ModelConfig withArchitecture(Architecture a) {
    return new ModelConfig(name, a, dim, hiddenDim, numLayers, numHeads, numKvHeads, headDim, vocabSize, maxSeqLen, ropeTheta, ropeScaling,
        normEps, sharedClassifier);
  }

  /** The same shape with another name. */
  public ModelConfig withName(String newName) {
    return new ModelConfig(newName, architecture, dim, hiddenDim, numLayers, numHeads, numKvHeads, headDim, vocabSize, maxSeqLen, ropeTheta,
        ropeScaling, normEps, sharedClassifier);
  }

  private static void positive(String field, int value) {
    if (value <= 0) throw new IllegalArgumentException(field + " must be > 0, got " + value);
  }

  /** Width of one token's queries (and of the attention output): {@code numHeads * headDim}. */
  public int qDim() {
    return numHeads * headDim;
  }

  /** Width of one token's K (or V) in one layer: {@code numKvHeads * headDim}. */
  public int kvDim() {
    return numKvHeads * headDim();
  }

  /** Query heads sharing one KV head: {@code numHeads / numKvHeads}. */
  public int kvGroupSize() {
    return numHeads / numKvHeads;
  }

  /**
   * KV-cache bytes one token occupies across all layers, K and V: {@code 2 * numLayers * kvDim *
   * bytesPerElement}. Used by KVPR (DESIGN.md section 1).
   */
  public long kvBytesPerToken(int bytesPerElement) {
    return 2L * numLayers * kvDim() * bytesPerElement;
  }

  /** Number of parameters (weights), counting the classifier once when shared. */
  public long parameterCount() {
    long perLayer = 2L * dim // two RMSNorm weights
        + (long) qDim() * dim // wq
        + 2L * dim * kvDim() // wk, wv
        + (long) dim * qDim() // wo
        + 3L * dim * hiddenDim // w1, w2, w3
        + (architecture.qkvBias() ? qDim() + 2L * kvDim() : 0)
        + (architecture.qkNorm() ? 2L * headDim : 0);
    long total = (long) vocabSize * dim + numLayers * perLayer + dim;
    if (!sharedClassifier) total += (long) vocabSize * dim;
    return total;
  }
}
