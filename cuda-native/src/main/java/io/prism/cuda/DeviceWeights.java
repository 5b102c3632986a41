package io.prism.cuda;

import static io.prism.cuda.CudaCheck.check;

import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.model.ModelWeights;
import io.prism.runtime.model.RopeScaling;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.Pointer;

/**
 * A model's weights in one device allocation ({@code cuMemAlloc}), in the layout the CUDA forward
 * pass wants: per layer the fused {@code wqkv = [wq; wk; wv]} ({@code [qDim + 2*kvDim, dim]}), the
 * float32 q/k/v bias {@code [qDim + 2*kvDim]} (Qwen2) and q/k norm weights {@code [headDim]} each
 * (Qwen3), and
 * {@code w13 = [w1; w3]} ({@code [2*hiddenDim, dim]}) so each is one GEMM, matrices in {@link
 * Precision} format, norm weights and the RoPE inverse frequencies in float32. Every tensor starts
 * on a 256-byte boundary.
 *
 * <p>Host weights are converted (float32 to bf16, round to nearest even) into two pinned staging
 * buffers and copied with {@code cuMemcpyHtoDAsync}, double-buffered with events so conversion of
 * one chunk overlaps the copy of the previous. Random weights ({@link #random}) are generated on the
 * device by a hash kernel: no host copy exists (an 8B model is 16 GB in bf16).
 *
 * <p>Threading: device thread only.
 */
final class DeviceWeights implements AutoCloseable {
  private static final long ALIGN = 256;
  private static final int STAGING_BYTES = 32 << 20;

  final ModelConfig config;
  final Precision precision;
  long base;
  final long bytes;
  long embedding; // [vocab, dim]
  long classifier; // [vocab, dim]; == embedding when shared
  long finalNorm; // [dim] f32
  long invFreq; // [headDim / 2] f32
  final long[] attnNorm; // [layers] -> [dim] f32
  final long[] wqkv; // [layers] -> [qDim + 2 kvDim, dim]
  final long[] bqkv; // [layers] -> [qDim + 2 kvDim] f32 (Qwen2), else 0
  final long[] qNorm; // [layers] -> [headDim] f32 (Qwen3), else 0
  final long[] kNorm; // [layers] -> [headDim] f32 (Qwen3), else 0
  final long[] wo; // [layers] -> [dim, qDim]
  final long[] ffnNorm; // [layers] -> [dim] f32
  final long[] w13; // [layers] -> [2 hidden, dim]
  final long[] w2; // [layers] -> [dim, hidden]
  private final CudaContext ctx;
  private boolean closed;

  private DeviceWeights(CudaContext ctx, ModelConfig c, Precision p, long base, Layout l) {
    this.ctx = ctx;
    this.config = c;
    this.precision = p;
    this.base = base;
    this.bytes = l.total;
    this.embedding = base + l.embedding;
    this.classifier = base + l.classifier;
    this.finalNorm = base + l.finalNorm;
    this.invFreq = base + l.invFreq;
    int n = c.numLayers();
    attnNorm = new long[n];
    wqkv = new long[n];
    bqkv = new long[n];
    qNorm = new long[n];
    kNorm = new long[n];
    wo = new long[n];
    ffnNorm = new long[n];
    w13 = new long[n];
    w2 = new long[n];
    for (int i = 0; i < n; i++) {
      long o = base + l.layer0 + i * l.layerStride;
      attnNorm[i] = o + l.attnNorm;
      wqkv[i] = o + l.wqkv;
      if (l.bqkv >= 0) bqkv[i] = o + l.bqkv;
      if (l.qNorm >= 0) {
        qNorm[i] = o + l.qNorm;
        kNorm[i] = o + l.kNorm;
      }
      wo[i] = o + l.wo;
      ffnNorm[i] = o + l.ffnNorm;
      w13[i] = o + l.w13;
      w2[i] = o + l.w2;
    }
  }

  /** Byte offsets of every tensor relative to the allocation. */
  private static final class Layout {
    long embedding, classifier, finalNorm, invFreq, layer0, layerStride;
    long attnNorm, wqkv, wo, ffnNorm, w13, w2;
    long bqkv = -1, qNorm = -1, kNorm = -1; // -1: absent
    long total;

    Layout(ModelConfig c, Precision p) {
      int e = p.elementBytes;
      long d = c.dim(), kv = c.kvDim(), h = c.hiddenDim(), v = c.vocabSize(), qd = c.qDim();
      long o = 0;
      embedding = o;
      o = align(o + v * d * e);
      if (c.sharedClassifier()) {
        classifier = embedding;
      } else {
        classifier = o;
        o = align(o + v * d * e);
      }
      finalNorm = o;
      o = align(o + d * 4);
      invFreq = o;
      o = align(o + (long) c.headDim() / 2 * 4);
      layer0 = o;
      long l = 0;
      attnNorm = l;
      l = align(l + d * 4);
      wqkv = l;
      l = align(l + (qd + 2 * kv) * d * e);
      if (c.architecture().qkvBias()) {
        bqkv = l;
        l = align(l + (qd + 2 * kv) * 4);
      }
      if (c.architecture().qkNorm()) {
        qNorm = l;
        l = align(l + c.headDim() * 4L);
        kNorm = l;
        l = align(l + c.headDim() * 4L);
      }
      wo = l;
      l = align(l + d * qd * e);
      ffnNorm = l;
      l = align(l + d * 4);
      w13 = l;
      l = align(l + 2 * h * d * e);
      w2 = l;
      l = align(l + d * h * e);
      layerStride = l;
      total = layer0 + c.numLayers() * layerStride;
    }
  }

  private static long align(long x) {
    return (x + ALIGN - 1) / ALIGN * ALIGN;
  }

  /** Device bytes the weights of {@code c} take in precision {@code p}. */
  static long bytesFor(ModelConfig c, Precision p) {
    return new Layout(c, p).total;
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

  /** Uploads host weights through pinned staging buffers. */
  static DeviceWeights upload(CudaContext ctx, ModelWeights w, Precision p) {
    ModelConfig c = w.config;
    Layout l = new Layout(c, p);
    long base = ctx.alloc("weights " + c.name(), l.total);
    DeviceWeights dw = new DeviceWeights(ctx, c, p, base, l);
    try (Uploader up = new Uploader(ctx, p)) {
      long d = c.dim(), kv = c.kvDim(), h = c.hiddenDim(), v = c.vocabSize(), qd = c.qDim(), hd = c.headDim();
      up.put(dw.embedding, w.tokenEmbedding, 0, v * d, false);
      if (!c.sharedClassifier()) up.put(dw.classifier, w.classifier, 0, v * d, false);
      up.put(dw.finalNorm, w.finalNorm, 0, d, true);
      up.put(dw.invFreq, inverseFrequencies(c), 0, c.headDim() / 2, true);
      int e = p.elementBytes;
      for (int i = 0; i < c.numLayers(); i++) {
        up.put(dw.attnNorm[i], w.attnNorm, i * d, d, true);
        up.put(dw.wqkv[i], w.wq, i * qd * d, qd * d, false);
        up.put(dw.wqkv[i] + qd * d * e, w.wk, i * kv * d, kv * d, false);
        up.put(dw.wqkv[i] + (qd * d + kv * d) * e, w.wv, i * kv * d, kv * d, false);
        if (w.bq != null) {
          up.put(dw.bqkv[i], w.bq, i * qd, qd, true);
          up.put(dw.bqkv[i] + qd * 4, w.bk, i * kv, kv, true);
          up.put(dw.bqkv[i] + (qd + kv) * 4, w.bv, i * kv, kv, true);
        }
        if (w.qNorm != null) {
          up.put(dw.qNorm[i], w.qNorm, i * hd, hd, true);
          up.put(dw.kNorm[i], w.kNorm, i * hd, hd, true);
        }
        up.put(dw.wo[i], w.wo, i * d * qd, d * qd, false);
        up.put(dw.ffnNorm[i], w.ffnNorm, i * d, d, true);
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

  /**
   * Random weights generated on the device: matrices uniform in {@code [-sqrt(3/in), sqrt(3/in)]}
   * (unit-variance outputs for unit-variance inputs), embedding uniform in {@code [-1, 1]}, norm
   * weights (q/k norms included) 1, q/k/v biases uniform in {@code [-0.1, 0.1]}. Deterministic in
   * {@code seed}.
   */
  static DeviceWeights random(CudaContext ctx, ModelConfig c, Precision p, long seed) {
    Layout l = new Layout(c, p);
    long base = ctx.alloc("random weights " + c.name(), l.total);
    DeviceWeights dw = new DeviceWeights(ctx, c, p, base, l);
    try {
      long d = c.dim(), kv = c.kvDim(), h = c.hiddenDim(), v = c.vocabSize(), qd = c.qDim();
      long s = seed * 1000;
      dw.fill(dw.embedding, v * d, s++, 1f);
      if (!c.sharedClassifier()) dw.fill(dw.classifier, v * d, s++, (float) Math.sqrt(3.0 / d));
      dw.fillConst(dw.finalNorm, d, 1f);
      try (Uploader up = new Uploader(ctx, Precision.FP32)) {
        up.put(dw.invFreq, inverseFrequencies(c), 0, c.headDim() / 2, true);
        up.finish();
      }
      for (int i = 0; i < c.numLayers(); i++) {
        dw.fillConst(dw.attnNorm[i], d, 1f);
        dw.fillConst(dw.ffnNorm[i], d, 1f);
        dw.fill(dw.wqkv[i], (qd + 2 * kv) * d, s++, (float) Math.sqrt(3.0 / d));
        if (dw.bqkv[i] != 0) dw.fillF32(dw.bqkv[i], qd + 2 * kv, s++, 0.1f);
        if (dw.qNorm[i] != 0) {
          dw.fillConst(dw.qNorm[i], c.headDim(), 1f);
          dw.fillConst(dw.kNorm[i], c.headDim(), 1f);
        }
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
    for (int i = 0; i < attnNorm.length; i++) {
      attnNorm[i] += d;
      wqkv[i] += d;
      if (bqkv[i] != 0) bqkv[i] += d;
      if (qNorm[i] != 0) {
        qNorm[i] += d;
        kNorm[i] += d;
      }
      wo[i] += d;
      ffnNorm[i] += d;
      w13[i] += d;
      w2[i] += d;
    }
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

  @Override
  public void close() {
    if (closed) return;
    closed = true;
    if (base == 0) return;
    ctx.makeCurrent();
    ctx.free(base);
  }

  /** Double-buffered host-to-device copier through pinned memory. */
  private static final class Uploader implements AutoCloseable {
    private final CudaContext ctx;
    private final Precision p;
    private final Pointer[] staging = new Pointer[2];
    private final ByteBuffer[] views = new ByteBuffer[2];
    private final CUevent_st[] done = new CUevent_st[2];
    private final boolean[] pending = new boolean[2];
    private int cur;

    Uploader(CudaContext ctx, Precision p) {
      this.ctx = ctx;
      this.p = p;
      for (int i = 0; i < 2; i++) {
        staging[i] = ctx.allocHost(STAGING_BYTES);
        views[i] = staging[i].asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        done[i] = new CUevent_st();
        check("cuEventCreate", cudart.cuEventCreate(done[i], cudart.CU_EVENT_DISABLE_TIMING));
      }
    }

    /** Copies {@code src[from, from + n)} to {@code dst}, as float32 when {@code f32} else in the precision. */
    void put(long dst, float[] src, long from, long n, boolean f32) {
      int eb = f32 ? 4 : p.elementBytes;
      long perChunk = STAGING_BYTES / eb;
      for (long done0 = 0; done0 < n; done0 += perChunk) {
        int m = (int) Math.min(perChunk, n - done0);
        if (pending[cur]) check("cuEventSynchronize", cudart.cuEventSynchronize(done[cur]));
        ByteBuffer b = views[cur];
        b.clear();
        int off = (int) (from + done0);
        if (eb == 4) {
          b.asFloatBuffer().put(src, off, m);
        } else {
          java.nio.ShortBuffer sb = b.asShortBuffer();
          for (int i = 0; i < m; i++) sb.put(i, Bf16.fromFloat(src[off + i]));
        }
        check("cuMemcpyHtoDAsync", cudart.cuMemcpyHtoDAsync(dst + done0 * eb, staging[cur], (long) m * eb, ctx.stream));
        check("cuEventRecord", cudart.cuEventRecord(done[cur], ctx.stream));
        pending[cur] = true;
        cur ^= 1;
      }
    }

    void finish() {
      ctx.synchronize();
      pending[0] = pending[1] = false;
    }

    @Override
    public void close() {
      ctx.synchronize();
      for (int i = 0; i < 2; i++) {
        if (done[i] != null) cudart.cuEventDestroy(done[i]);
        ctx.freeHost(staging[i]);
      }
    }
  }
}
