package io.prism.cuda;

import io.prism.runtime.model.GgmlType;
import io.prism.runtime.model.GgmlQuantizer;
import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.model.ModelWeights;
import io.prism.runtime.model.QuantizedMatrices;
import io.prism.runtime.model.RopeScaling;
import java.util.EnumSet;
import java.util.Set;
import java.util.function.BiFunction;

/**
 * A model's weights in one device allocation ({@code cuMemAlloc}), laid out by {@link
 * WeightLayout}: dense models keep per layer the fused {@code wqkv = [wq; wk; wv]} ({@code [qDim +
 * 2*kvDim, dim]}) and {@code w13 = [w1; w3]} ({@code [2*hiddenDim, dim]}) so each is one GEMM,
 * matrices in {@link Precision} format; quantized models keep every layer matrix (and the
 * classifier when it is quantized) in its ggml block type ({@link #DEVICE_TYPES}), read by the
 * dequantising GEMVs of {@link QuantGemv}. Norm weights, q/k/v biases (Qwen2), q/k norm weights
 * (Qwen3) and the RoPE inverse frequencies are float32; the token embedding is dense.
 *
 * <p>Host weights go through {@link WeightUploader}. Random weights ({@link #random}, {@link
 * #randomQuantized}) are generated on the device by hash kernels: no host copy exists (an 8B model
 * is 16 GB in bf16).
 *
 * <p>Threading: device thread only.
 */
final class DeviceWeights implements AutoCloseable {
  /** Block types the device computes with directly (others are dequantised to dense on the host). */
  static final Set<GgmlType> DEVICE_TYPES = EnumSet.of(GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.Q8_0);

  final ModelConfig config;
  final Precision precision;
  long base;
  final long bytes;
  long embedding; // [vocab, dim]
  long classifier; // [vocab, dim]; == embedding when shared and dense
  final GgmlType classifierType; // null: dense
  long finalNorm; // [dim] f32
  long invFreq; // [headDim / 2] f32
  final long[] attnNorm; // [layers] -> [dim] f32
  final long[] wqkv; // [layers] -> [qDim + 2 kvDim, dim] (dense; 0 when quantized)
  final long[] bqkv; // [layers] -> [qDim + 2 kvDim] f32 (Qwen2), else 0
  final long[] qNorm; // [layers] -> [headDim] f32 (Qwen3), else 0
  final long[] kNorm; // [layers] -> [headDim] f32 (Qwen3), else 0
  final long[] wo; // [layers] -> [dim, qDim] (dense; 0 when quantized)
  final long[] ffnNorm; // [layers] -> [dim] f32
  final long[] w13; // [layers] -> [2 hidden, dim] (dense; 0 when quantized)
  final long[] w2; // [layers] -> [dim, hidden] (dense; 0 when quantized)
  final long[][] quant; // [layers][7] quantized matrices (QuantizedMatrices.Q ..), or null when dense
  final GgmlType[][] quantTypes; // [layers][7], or null when dense
  private final CudaContext ctx;
  private boolean closed;

  private DeviceWeights(CudaContext ctx, ModelConfig c, Precision p, long base, WeightLayout l, GgmlType[][] types, GgmlType clsType) {
    this.ctx = ctx;
    this.config = c;
    this.precision = p;
    this.base = base;
    this.bytes = l.total;
    this.classifierType = clsType;
    this.quantTypes = types;
    this.embedding = base + l.embedding;
    this.classifier = base + l.classifier;
    this.finalNorm = base + l.finalNorm;
    this.invFreq = base + l.invFreq;
    int n = c.numLayers();
    attnNorm = at(base, l.attnNorm);
    wqkv = at(base, l.wqkv);
    bqkv = at(base, l.bqkv);
    qNorm = at(base, l.qNorm);
    kNorm = at(base, l.kNorm);
    wo = at(base, l.wo);
    ffnNorm = at(base, l.ffnNorm);
    w13 = at(base, l.w13);
    w2 = at(base, l.w2);
    quant = l.quant == null ? null : new long[n][];
    if (quant != null) for (int i = 0; i < n; i++) quant[i] = at(base, l.quant[i]);
  }

  /** Absolute addresses of relative offsets ({@code -1}, absent, becomes 0). */
  private static long[] at(long base, long[] offsets) {
    long[] a = new long[offsets.length];
    for (int i = 0; i < a.length; i++) a[i] = offsets[i] < 0 ? 0 : base + offsets[i];
    return a;
  }

  /** Whether the layer matrices are kept quantized. */
  boolean quantized() {
    return quant != null;
  }

  /** Device bytes the dense weights of {@code c} take in precision {@code p}. */
  static long bytesFor(ModelConfig c, Precision p) {
    return new WeightLayout(c, p, null, null).total;
  }

  /** Device bytes of {@code c} with quantized layer matrices of {@code types} and classifier {@code clsType} (null: dense). */
  static long bytesFor(ModelConfig c, Precision p, GgmlType[][] types, GgmlType clsType) {
    return new WeightLayout(c, p, types, clsType).total;
  }

  /** Bytes of the quantized matrices a decode step reads (layers and classifier), for bandwidth floors. */
  long quantizedBytes() {
    long b = 0;
    ModelConfig c = config;
    if (quantTypes != null) {
      for (GgmlType[] layer : quantTypes) {
        for (int m = 0; m < 7; m++) b += layer[m].bytesFor((long) QuantizedMatrices.rows(c, m) * QuantizedMatrices.cols(c, m));
      }
    }
    if (classifierType != null) b += classifierType.bytesFor((long) c.vocabSize() * c.dim());
    return b;
  }

  /**
   * RoPE inverse frequencies {@code theta^(-2i/headDim)}, computed in float as llama2.c does, then
   * Llama-3 scaled when {@code c.ropeScaling()} is set (see {@link RopeScaling}).
   */
  static float[] inverseFrequencies(ModelConfig c) {
    int hs = c.headDim();
    float[] f = new float[hs / 2];
    RopeScaling s = c.ropeScaling();
    for (int i = 0; i < f.length; i++) {
      float freq = (float) (1.0 / Math.pow(c.ropeTheta(), (2 * i) / (float) hs));
      if (s != null) {
        double wavelen = 2 * Math.PI / freq;
        double lowWavelen = s.originalMaxPositions() / s.lowFreqFactor();
        double highWavelen = s.originalMaxPositions() / s.highFreqFactor();
        if (wavelen > lowWavelen) {
          freq = (float) (freq / s.factor());
        } else if (wavelen >= highWavelen) {
          double smooth = (s.originalMaxPositions() / wavelen - s.lowFreqFactor()) / (s.highFreqFactor() - s.lowFreqFactor());
          freq = (float) ((1 - smooth) * freq / s.factor() + smooth * freq);
        }
      }
      f[i] = freq;
    }
    return f;
  }

  /** Uploads dense host weights. */
  static DeviceWeights upload(CudaContext ctx, ModelWeights w, Precision p) {
    return upload(ctx, w, null, p);
  }

  /**
   * Uploads host weights; with {@code q} not null the layer matrices (and the classifier when {@code
   * q} has one) are uploaded as {@code q}'s blocks instead of {@code w}'s floats.
   *
   * @throws IllegalArgumentException when a matrix of {@code q} has a type outside {@link #DEVICE_TYPES}
   */
  static DeviceWeights upload(CudaContext ctx, ModelWeights w, QuantizedMatrices q, Precision p) {
    ModelConfig c = w.config;
    GgmlType[][] types = q == null ? null : typesOf(q);
    GgmlType clsType = q == null || q.classifier() == null ? null : q.classifier().type();
    if (clsType != null && !DEVICE_TYPES.contains(clsType)) throw new IllegalArgumentException("classifier type " + clsType + " is not one of " + DEVICE_TYPES);
    WeightLayout l = new WeightLayout(c, p, types, clsType);
    long base = ctx.alloc("weights " + c.name(), l.total);
    DeviceWeights dw = new DeviceWeights(ctx, c, p, base, l, types, clsType);
    try (WeightUploader up = new WeightUploader(ctx, p)) {
      long d = c.dim(), kv = c.kvDim(), h = c.hiddenDim(), v = c.vocabSize(), qd = c.qDim(), hd = c.headDim();
      up.put(dw.embedding, w.tokenEmbedding, 0, v * d, false);
      if (clsType != null) up.putBytes(dw.classifier, q.classifier().data());
      else if (!c.sharedClassifier()) up.put(dw.classifier, w.classifier, 0, v * d, false);
      up.put(dw.finalNorm, w.finalNorm, 0, d, true);
      up.put(dw.invFreq, inverseFrequencies(c), 0, c.headDim() / 2, true);
      int e = p.elementBytes;
      for (int i = 0; i < c.numLayers(); i++) {
        up.put(dw.attnNorm[i], w.attnNorm, i * d, d, true);
        up.put(dw.ffnNorm[i], w.ffnNorm, i * d, d, true);
        if (w.bq != null) {
          up.put(dw.bqkv[i], w.bq, i * qd, qd, true);
          up.put(dw.bqkv[i] + qd * 4, w.bk, i * kv, kv, true);
          up.put(dw.bqkv[i] + (qd + kv) * 4, w.bv, i * kv, kv, true);
        }
        if (w.qNorm != null) {
          up.put(dw.qNorm[i], w.qNorm, i * hd, hd, true);
          up.put(dw.kNorm[i], w.kNorm, i * hd, hd, true);
        }
        if (q != null) {
          for (int m = 0; m < 7; m++) up.putBytes(dw.quant[i][m], q.get(i, m).data());
          continue;
        }
        up.put(dw.wqkv[i], w.wq, i * qd * d, qd * d, false);
        up.put(dw.wqkv[i] + qd * d * e, w.wk, i * kv * d, kv * d, false);
        up.put(dw.wqkv[i] + (qd * d + kv * d) * e, w.wv, i * kv * d, kv * d, false);
        up.put(dw.wo[i], w.wo, i * d * qd, d * qd, false);
        up.put(dw.w13[i], w.w1, i * h * d, h * d, false);
        up.put(dw.w13[i] + h * d * e, w.w3, i * h * d, h * d, false);
        up.put(dw.w2[i], w.w2, i * d * h, d * h, false);
      }
      up.finish();
    } catch (RuntimeException ex) {
      dw.close();
      throw ex;
    }
    return dw;
  }

  private static GgmlType[][] typesOf(QuantizedMatrices q) {
    GgmlType[][] t = new GgmlType[q.config.numLayers()][7];
    for (int i = 0; i < t.length; i++) {
      for (int m = 0; m < 7; m++) {
        t[i][m] = q.get(i, m).type();
        if (!DEVICE_TYPES.contains(t[i][m])) {
          throw new IllegalArgumentException("layer " + i + " " + QuantizedMatrices.GGUF_NAMES[m] + " type " + t[i][m] + " is not one of " + DEVICE_TYPES);
        }
      }
    }
    return t;
  }

  /**
   * Random weights generated on the device: matrices uniform in {@code [-sqrt(3/in), sqrt(3/in)]}
   * (unit-variance outputs for unit-variance inputs), embedding uniform in {@code [-1, 1]}, norm
   * weights (q/k norms included) 1, q/k/v biases uniform in {@code [-0.1, 0.1]}. Deterministic in
   * {@code seed}.
   */
  static DeviceWeights random(CudaContext ctx, ModelConfig c, Precision p, long seed) {
    return random(ctx, c, p, seed, null);
  }

  /**
   * As {@link #random}, with the layer matrices and the classifier in the block types of {@code mix}
   * ({@code mix(layer, matrix)}, layer -1 the classifier; e.g. {@link QuantizedMatrices#kMix}):
   * random blocks whose scales give values of about the dense random weights' size.
   */
  static DeviceWeights randomQuantized(CudaContext ctx, ModelConfig c, Precision p, long seed, BiFunction<Integer, Integer, GgmlType> mix) {
    return random(ctx, c, p, seed, mix);
  }

  private static DeviceWeights random(CudaContext ctx, ModelConfig c, Precision p, long seed, BiFunction<Integer, Integer, GgmlType> mix) {
    GgmlType[][] types = null;
    GgmlType clsType = null;
    if (mix != null) {
      types = new GgmlType[c.numLayers()][7];
      for (int i = 0; i < types.length; i++) for (int m = 0; m < 7; m++) types[i][m] = mix.apply(i, m);
      clsType = mix.apply(-1, -1);
    }
    WeightLayout l = new WeightLayout(c, p, types, clsType);
    long base = ctx.alloc("random weights " + c.name(), l.total);
    DeviceWeights dw = new DeviceWeights(ctx, c, p, base, l, types, clsType);
    try {
      long d = c.dim(), kv = c.kvDim(), h = c.hiddenDim(), v = c.vocabSize(), qd = c.qDim();
      long s = seed * 1000;
      dw.fill(dw.embedding, v * d, s++, 1f);
      if (clsType != null) dw.fillBlocks(dw.classifier, clsType, v * d, s++, (float) Math.sqrt(3.0 / d));
      else if (!c.sharedClassifier()) dw.fill(dw.classifier, v * d, s++, (float) Math.sqrt(3.0 / d));
      dw.fillConst(dw.finalNorm, d, 1f);
      try (WeightUploader up = new WeightUploader(ctx, Precision.FP32)) {
        up.put(dw.invFreq, inverseFrequencies(c), 0, c.headDim() / 2, true);
        up.finish();
      }
      for (int i = 0; i < c.numLayers(); i++) {
        dw.fillConst(dw.attnNorm[i], d, 1f);
        dw.fillConst(dw.ffnNorm[i], d, 1f);
        if (dw.bqkv[i] != 0) dw.fillF32(dw.bqkv[i], qd + 2 * kv, s++, 0.1f);
        if (dw.qNorm[i] != 0) {
          dw.fillConst(dw.qNorm[i], c.headDim(), 1f);
          dw.fillConst(dw.kNorm[i], c.headDim(), 1f);
        }
        if (types != null) {
          for (int m = 0; m < 7; m++) {
            int cols = QuantizedMatrices.cols(c, m);
            dw.fillBlocks(dw.quant[i][m], types[i][m], (long) QuantizedMatrices.rows(c, m) * cols, s++, (float) Math.sqrt(3.0 / cols));
          }
          continue;
        }
        dw.fill(dw.wqkv[i], (qd + 2 * kv) * d, s++, (float) Math.sqrt(3.0 / d));
        dw.fill(dw.wo[i], d * qd, s++, (float) Math.sqrt(3.0 / qd));
        dw.fill(dw.w13[i], 2 * h * d, s++, (float) Math.sqrt(3.0 / d));
        dw.fill(dw.w2[i], d * h, s++, (float) Math.sqrt(3.0 / h));
      }
      ctx.synchronize();
    } catch (RuntimeException ex) {
      dw.close();
      throw ex;
    }
    return dw;
  }

  private void fill(long ptr, long n, long seed, float a) {
    int blocks = (int) Math.min(4096, (n + 255) / 256);
    ctx.kernels.args().ptr(ptr).i64(n).i64(seed).f32(a).go("fill_uniform_" + precision.suffix(), ctx.stream, blocks, 1, 1, 256, 0);
  }

  private void fillF32(long ptr, long n, long seed, float a) {
    int blocks = (int) Math.min(4096, (n + 255) / 256);
    ctx.kernels.args().ptr(ptr).i64(n).i64(seed).f32(a).go("fill_uniform_f32", ctx.stream, blocks, 1, 1, 256, 0);
  }

  private void fillConst(long ptr, long n, float v) {
    int blocks = (int) Math.min(4096, (n + 255) / 256);
    ctx.kernels.args().ptr(ptr).i64(n).f32(v).go("fill_const_f32", ctx.stream, blocks, 1, 1, 256, 0);
  }

  /**
   * Random blocks of {@code type} for {@code n} values of magnitude about {@code a}: random quants
   * and sub-scales, super-scales chosen so that the largest values are a few times {@code a} (Q8_0:
   * {@code d = a / 127}; Q4_K: {@code d = a / 300}, {@code dmin = 7.5 d}, centring the 4-bit range;
   * Q6_K: {@code d = a / 1000}).
   */
  private void fillBlocks(long ptr, GgmlType type, long n, long seed, float a) {
    long blocks = n / type.blockElements;
    int h0Off, h1Off = -1;
    float h0, h1 = 0;
    switch (type) {
      case Q8_0 -> {
        h0Off = 0;
        h0 = a / 127f;
      }
      case Q4_K -> {
        h0Off = 0;
        h0 = a / 300f;
        h1Off = 2;
        h1 = 7.5f * h0;
      }
      case Q6_K -> {
        h0Off = 208;
        h0 = a / 1000f;
      }
      default -> throw new IllegalArgumentException(type + " is not a device block type " + DEVICE_TYPES);
    }
    int grid = (int) Math.min(65535, (blocks + 255) / 256);
    ctx.kernels.args().ptr(ptr).i64(blocks).i32(type.blockBytes).i64(seed).i32(h0Off).i32(GgmlQuantizer.floatToHalf(h0)).i32(h1Off)
        .i32(GgmlQuantizer.floatToHalf(h1)).go("fill_qblocks", ctx.stream, grid, 1, 1, 256, 0);
  }

  /**
   * Moves every tensor address by {@code newBase - base}: the weights were copied to a new
   * allocation (activation after an eviction). Does not free or copy anything.
   */
  void rebase(long newBase) {
    long d = newBase - base;
    base = newBase;
    embedding += d;
    classifier += d;
    finalNorm += d;
    invFreq += d;
    for (long[] a : new long[][] {attnNorm, wqkv, bqkv, qNorm, kNorm, wo, ffnNorm, w13, w2}) shift(a, d);
    if (quant != null) for (long[] a : quant) shift(a, d);
  }

  /** Adds {@code d} to every present (non-zero) address; offsets from base 0 are never 0 for present tensors. */
  private static void shift(long[] a, long d) {
    for (int i = 0; i < a.length; i++) if (a[i] != 0) a[i] += d;
  }

  /** Whether the device allocation is held ({@code false} after {@link #releaseDevice}). */
  boolean onDevice() {
    return base != 0;
  }

  /** Frees the device allocation (eviction); addresses are kept for {@link #rebase} on activation. */
  void releaseDevice() {
    if (base == 0) return;
    ctx.makeCurrent();
    ctx.free(base);
    rebase(0); // addresses become offsets from 0 until the next rebase
  }

  /**
   * Hands this allocation to another {@code DeviceWeights} of the same layout ({@link #rebase} there)
   * and closes this one without freeing it.
   *
   * @return the allocation's base address
   * @throws IllegalStateException if closed or not on the device
   */
  long takeAllocation() {
    if (closed || base == 0) throw new IllegalStateException("no device allocation to hand over");
    long b = base;
    base = 0;
    closed = true;
    return b;
  }

  @Override
  public void close() {
    if (closed) return;
    closed = true;
    if (base == 0) return;
    ctx.makeCurrent();
    ctx.free(base);
  }
}
