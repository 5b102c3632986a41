package io.prism.runtime.model;

import java.util.function.BiFunction;

/**
 * The weight matrices of a model kept in ggml block formats, for a device backend that keeps them
 * quantized in device memory and dequantises on the fly (the host backend dequantises at load
 * instead, see {@link GgufLoader}). Rows are in the orientation and order of {@link ModelWeights}
 * ({@code [out, in]}, q/k rows in adjacent-pair RoPE order), each row {@code cols / blockElements}
 * whole blocks, so a row permutation is a permutation of whole rows of bytes.
 *
 * <p>Per layer the seven matrices (index {@link #Q} .. {@link #DOWN}) may each have their own type
 * (llama.cpp's Q4_K_M mix gives attn_v and ffn_down Q6_K in some layers). The classifier is
 * quantized or null (dense, from the float weights). Vectors (norms, biases) and the token
 * embedding are not here: they come from {@link ModelWeights}. Immutable after construction; byte
 * arrays are shared, not copied.
 */
public final class QuantizedMatrices {
  /** Matrix index within a layer: wq {@code [qDim, dim]}. */
  public static final int Q = 0;
  /** wk {@code [kvDim, dim]}. */
  public static final int K = 1;
  /** wv {@code [kvDim, dim]}. */
  public static final int V = 2;
  /** wo {@code [dim, qDim]}. */
  public static final int O = 3;
  /** w1 (gate) {@code [hidden, dim]}. */
  public static final int GATE = 4;
  /** w3 (up) {@code [hidden, dim]}. */
  public static final int UP = 5;
  /** w2 (down) {@code [dim, hidden]}. */
  public static final int DOWN = 6;
  /** GGUF tensor name suffixes of the matrices, by index. */
  public static final String[] GGUF_NAMES = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};

  /** One quantized matrix: {@code rows x cols} values of {@code type}, row-major, {@code type.bytesFor(rows * cols)} bytes. */
  public record Tensor(GgmlType type, int rows, int cols, byte[] data) {
    /** @throws IllegalArgumentException when the size does not match the shape or rows are not whole blocks */
    public Tensor {
      if (cols % type.blockElements != 0) throw new IllegalArgumentException(type + " rows of " + cols + " values are not whole blocks of " + type.blockElements);
      if (data.length != type.bytesFor((long) rows * cols)) {
        throw new IllegalArgumentException(type + " [" + rows + ", " + cols + "]: expected " + type.bytesFor((long) rows * cols) + " bytes, found " + data.length);
      }
    }
  }

  /** The shape the matrices belong to. */
  public final ModelConfig config;
  private final Tensor[][] layers; // [layers][7]
  private final Tensor classifier; // [vocab, dim] or null (dense)

  /**
   * @param layers per layer the seven matrices in index order, shapes as {@code config} says
   * @param classifier the quantized classifier, or null to keep it dense
   * @throws IllegalArgumentException naming the layer and matrix of a missing or misshapen tensor
   */
  public QuantizedMatrices(ModelConfig config, Tensor[][] layers, Tensor classifier) {
    if (layers.length != config.numLayers()) throw new IllegalArgumentException("expected " + config.numLayers() + " layers, found " + layers.length);
    for (int l = 0; l < layers.length; l++) {
      for (int m = 0; m < 7; m++) {
        Tensor t = layers[l] == null || layers[l].length != 7 ? null : layers[l][m];
        if (t == null) throw new IllegalArgumentException("layer " + l + " " + GGUF_NAMES[m] + " is missing");
        if (t.rows() != rows(config, m) || t.cols() != cols(config, m)) {
          throw new IllegalArgumentException("layer " + l + " " + GGUF_NAMES[m] + ": expected [" + rows(config, m) + ", " + cols(config, m) + "], found ["
              + t.rows() + ", " + t.cols() + "]");
        }
      }
    }
    if (classifier != null && (classifier.rows() != config.vocabSize() || classifier.cols() != config.dim())) {
      throw new IllegalArgumentException("classifier: expected [" + config.vocabSize() + ", " + config.dim() + "]");
    }
    this.config = config;
    this.layers = layers;
    this.classifier = classifier;
  }

  /** Output rows of matrix {@code m} of a layer of {@code c}. */
  public static int rows(ModelConfig c, int m) {
    return switch (m) {
      case Q -> c.qDim();
      case K, V -> c.kvDim();
      case O, DOWN -> c.dim();
      default -> c.hiddenDim();
    };
  }

  /** Input columns of matrix {@code m} of a layer of {@code c}. */
  public static int cols(ModelConfig c, int m) {
    return switch (m) {
      case O -> c.qDim();
      case DOWN -> c.hiddenDim();
      default -> c.dim();
    };
  }

  /** Matrix {@code m} of layer {@code l}. */
  public Tensor get(int l, int m) {
    return layers[l][m];
  }

  /** The quantized classifier, or null when it stays dense. */
  public Tensor classifier() {
    return classifier;
  }

  /** Bytes of all the quantized matrices. */
  public long bytes() {
    long b = classifier == null ? 0 : classifier.data().length;
    for (Tensor[] layer : layers) for (Tensor t : layer) b += t.data().length;
    return b;
  }

  /**
   * Quantizes the matrices of {@code w} with {@link GgmlQuantizer}: {@code typeOf(layer, m)} gives
   * each matrix's type ({@code layer} -1: the classifier; null keeps it dense).
   *
   * @throws IllegalArgumentException when a type cannot quantize a matrix's rows
   */
  public static QuantizedMatrices quantize(ModelWeights w, BiFunction<Integer, Integer, GgmlType> typeOf) {
    ModelConfig c = w.config;
    float[][] all = {w.wq, w.wk, w.wv, w.wo, w.w1, w.w3, w.w2};
    Tensor[][] layers = new Tensor[c.numLayers()][7];
    for (int l = 0; l < c.numLayers(); l++) {
      for (int m = 0; m < 7; m++) {
        int r = rows(c, m), k = cols(c, m);
        GgmlType t = typeOf.apply(l, m);
        layers[l][m] = new Tensor(t, r, k, GgmlQuantizer.quantize(t, all[m], l * r * k, r * k));
      }
    }
    GgmlType ct = typeOf.apply(-1, -1);
    Tensor cls = ct == null ? null : new Tensor(ct, c.vocabSize(), c.dim(), GgmlQuantizer.quantize(ct, w.classifier, 0, c.vocabSize() * c.dim()));
    return new QuantizedMatrices(c, layers, cls);
  }

  /**
   * The float weights these blocks stand for: {@code w} with every layer matrix (and the classifier,
   * when quantized here) replaced by its dequantised values ({@link QuantKernels}); vectors and the
   * embedding are {@code w}'s. What a host backend computes with for the same model.
   *
   * @throws IllegalArgumentException when {@code w} has another shape
   */
  public ModelWeights dequantized(ModelWeights w) {
    if (!w.config.equals(config)) throw new IllegalArgumentException("weights of " + w.config.name() + " do not have the shape of " + config.name());
    ModelConfig c = config;
    float[][] out = new float[7][];
    for (int m = 0; m < 7; m++) {
      int n = rows(c, m) * cols(c, m);
      out[m] = new float[Math.toIntExact((long) n * c.numLayers())];
      for (int l = 0; l < c.numLayers(); l++) {
        Tensor t = layers[l][m];
        QuantKernels.dequantize(t.type(), t.data(), 0, out[m], l * n, n);
      }
    }
    float[] cls = w.classifier;
    if (classifier != null) {
      cls = new float[c.vocabSize() * c.dim()];
      QuantKernels.dequantize(classifier.type(), classifier.data(), 0, cls, 0, cls.length);
    }
    return new ModelWeights(c, w.tokenEmbedding, w.attnNorm, out[Q], out[K], out[V], out[O], w.ffnNorm, out[GATE], out[DOWN], out[UP], w.finalNorm,
        cls, w.bq, w.bk, w.bv, w.qNorm, w.kNorm);
  }

  /**
   * llama.cpp's Q4_K_M recipe in outline ({@code llama-quant.cpp}'s type choice, restated): Q4_K
   * everywhere except Q6_K for the classifier and for attn_v and ffn_down in the first and last
   * eighth of the layers and every third layer between. {@code base} Q5_K gives the Q5_K_M mix.
   */
  public static BiFunction<Integer, Integer, GgmlType> kMix(ModelConfig c, GgmlType base) {
    int n = c.numLayers();
    return (l, m) -> {
      if (l < 0) return GgmlType.Q6_K;
      boolean moreBits = l < n / 8 || l >= 7 * n / 8 || (l - n / 8) % 3 == 2;
      return (m == V || m == DOWN) && moreBits ? GgmlType.Q6_K : base;
    };
  }
}
