package io.prism.cuda;

import io.prism.runtime.model.GgmlType;
import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.model.QuantizedMatrices;

/**
 * Byte offsets of every tensor of a model inside its one device allocation ({@link DeviceWeights}),
 * each on a 256-byte boundary. Absent tensors have offset -1.
 *
 * <pre>
 * embedding [vocab, dim] e | classifier [vocab, dim] (dense e, or quantized; absent when shared)
 * finalNorm [dim] f32 | invFreq [headDim / 2] f32
 * per layer: attnNorm [dim] f32 | bqkv [qDim + 2 kvDim] f32 (Qwen2) | qNorm, kNorm [headDim] f32 (Qwen3)
 *            dense:     wqkv [qDim + 2 kvDim, dim] e | wo [dim, qDim] e | ffnNorm | w13 [2 hidden, dim] e | w2 [dim, hidden] e
 *            quantized: q | k | v | o | ffnNorm | gate | up | down   (each in its own block type)
 * </pre>
 *
 * {@code e} is the precision's element size. A quantized model (every layer matrix of a type in
 * {@link DeviceWeights#DEVICE_TYPES}) keeps its blocks as stored; layers differ in size when their
 * types differ (Q4_K_M's Q6_K layers), so offsets are kept per layer.
 */
final class WeightLayout {
  static final long ALIGN = 256;

  long embedding, classifier, finalNorm, invFreq;
  final long[] attnNorm, bqkv, qNorm, kNorm, wqkv, wo, ffnNorm, w13, w2;
  /** [layer][matrix] offsets of quantized matrices (index as {@link QuantizedMatrices#Q} ..), or null when dense. */
  final long[][] quant;
  long total;

  /**
   * @param types per layer the seven matrix types, or null for dense matrices in the precision
   * @param classifierType the classifier's block type, or null when it is dense
   */
  WeightLayout(ModelConfig c, Precision p, GgmlType[][] types, GgmlType classifierType) {
    int e = p.elementBytes, n = c.numLayers();
    long d = c.dim(), kv = c.kvDim(), h = c.hiddenDim(), v = c.vocabSize(), qd = c.qDim();
    attnNorm = new long[n];
    bqkv = new long[n];
    qNorm = new long[n];
    kNorm = new long[n];
    wqkv = new long[n];
    wo = new long[n];
    ffnNorm = new long[n];
    w13 = new long[n];
    w2 = new long[n];
    quant = types == null ? null : new long[n][7];
    long o = 0;
    embedding = o;
    o = align(o + v * d * e);
    if (c.sharedClassifier() && classifierType == null) {
      classifier = embedding;
    } else {
      classifier = o;
      o = align(o + (classifierType == null ? v * d * e : classifierType.bytesFor(v * d)));
    }
    finalNorm = o;
    o = align(o + d * 4);
    invFreq = o;
    o = align(o + (long) c.headDim() / 2 * 4);
    for (int i = 0; i < n; i++) {
      attnNorm[i] = o;
      o = align(o + d * 4);
      bqkv[i] = qNorm[i] = kNorm[i] = -1;
      if (c.architecture().qkvBias()) {
        bqkv[i] = o;
        o = align(o + (qd + 2 * kv) * 4);
      }
      if (c.architecture().qkNorm()) {
        qNorm[i] = o;
        o = align(o + c.headDim() * 4L);
        kNorm[i] = o;
        o = align(o + c.headDim() * 4L);
      }
      wqkv[i] = wo[i] = w13[i] = w2[i] = -1;
      if (types == null) {
        wqkv[i] = o;
        o = align(o + (qd + 2 * kv) * d * e);
        wo[i] = o;
        o = align(o + d * qd * e);
      } else {
        for (int m = QuantizedMatrices.Q; m <= QuantizedMatrices.O; m++) o = quantized(c, types, i, m, o);
      }
      ffnNorm[i] = o;
      o = align(o + d * 4);
      if (types == null) {
        w13[i] = o;
        o = align(o + 2 * h * d * e);
        w2[i] = o;
        o = align(o + d * h * e);
      } else {
        for (int m = QuantizedMatrices.GATE; m <= QuantizedMatrices.DOWN; m++) o = quantized(c, types, i, m, o);
      }
    }
    total = o;
  }

  private long quantized(ModelConfig c, GgmlType[][] types, int layer, int m, long o) {
    quant[layer][m] = o;
    return align(o + types[layer][m].bytesFor((long) QuantizedMatrices.rows(c, m) * QuantizedMatrices.cols(c, m)));
  }

  static long align(long x) {
    return (x + ALIGN - 1) / ALIGN * ALIGN;
  }
}
