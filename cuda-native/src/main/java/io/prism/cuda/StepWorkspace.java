package io.prism.cuda;

import io.prism.runtime.model.ModelConfig;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.bytedeco.javacpp.Pointer;

/**
 * Device and pinned host buffers of one {@link CudaForwardBackend}, sized for {@code chunk} tokens
 * per forward chunk (shapes in the backend's Javadoc): x [T, dim] f32, xb [T, dim] W, qkv [T, dim +
 * 2 kvDim] f32, h13 [T, 2 hidden] f32, hb [T, hidden] W, xl [LOGIT_ROWS, dim] W, logits [LOGIT_ROWS,
 * vocab] f32, argmax [LOGIT_ROWS] int, logprobs [LOGIT_ROWS, LOGPROB_STRIDE] f32 (+ pinned host copy),
 * the rows' sparse logit adjustments (device + pinned host, grown on demand), attention partials [max(T, 256), heads, headDim + 2] f32, and
 * one arrival counter per (row, head group) for the attention splits (int, zero between launches),
 * and the step metadata (device + pinned host, grown on demand).
 *
 * <p>Threading: device thread only.
 */
final class StepWorkspace {
  /** Floats per row of {@link #logprobs}: the chosen token's log probability, 20 ids (int bits), 20 log probabilities. */
  static final int LOGPROB_STRIDE = 1 + 2 * io.prism.runtime.sampling.SamplingParams.MAX_TOP_LOGPROBS;
  long x, xb, qkv, h13, hb, xl, logits, argmax, logprobs, part, counters, meta;
  long adjust, adjustBytes; // [starts][tokens][coefficients] of the rows' bias and penalties (grown on demand)
  Pointer adjustPinned, logprobsPinned;
  ByteBuffer adjustHost, logprobsHost;
  long dense; // [max matrix rows * cols] W: dequantised weights of a quantized model (0 for dense models)
  long partFloats;
  int chunk, headDimRec, heads;
  long metaBytes;
  Pointer metaPinned, logitsPinned;
  ByteBuffer metaHost, logitsHost;
  long logitsHostBytes;

  /**
   * @param denseScratch allocate {@link #dense} for one dequantised layer matrix (quantized models:
   *     the largest of {@code [qDim + 2 kvDim, dim]}, {@code [dim, qDim]}, {@code [2 hidden, dim]},
   *     {@code [dim, hidden]})
   */
  static StepWorkspace allocate(CudaContext ctx, ModelConfig c, Precision p, int chunk, boolean denseScratch) {
    StepWorkspace s = new StepWorkspace();
    if (denseScratch) {
      long qd = c.qDim(), d = c.dim(), kv = c.kvDim(), h = c.hiddenDim();
      long elems = Math.max(Math.max((qd + 2 * kv) * d, d * qd), Math.max(2 * h * d, d * h));
      s.dense = ctx.alloc("dequantised weights scratch", elems * p.elementBytes);
    }
    int e = p.elementBytes;
    long T = chunk;
    int maxRows = CudaForwardBackend.LOGIT_ROWS;
    s.chunk = chunk;
    s.heads = c.numHeads();
    s.headDimRec = c.headDim() + 2;
    s.x = ctx.alloc("x", T * c.dim() * 4);
    s.xb = ctx.alloc("xb", T * Math.max(c.dim(), c.qDim()) * e); // normed input [T, dim] and attention output [T, qDim]
    s.qkv = ctx.alloc("qkv", T * (c.qDim() + 2L * c.kvDim()) * 4);
    s.h13 = ctx.alloc("h13", T * 2L * c.hiddenDim() * 4);
    s.hb = ctx.alloc("hb", T * c.hiddenDim() * e);
    s.xl = ctx.alloc("xl", (long) maxRows * c.dim() * e);
    s.logits = ctx.alloc("logits", (long) maxRows * c.vocabSize() * 4);
    s.argmax = ctx.alloc("argmax", 4L * maxRows);
    s.logprobs = ctx.alloc("logprobs", 4L * LOGPROB_STRIDE * maxRows);
    s.logprobsPinned = ctx.allocHost(4L * LOGPROB_STRIDE * maxRows);
    s.logprobsHost = s.logprobsPinned.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    s.partFloats = Math.max(T, 256) * c.numHeads() * (long) s.headDimRec;
    s.part = ctx.alloc("attention partials", s.partFloats * 4);
    long counterInts = Math.max(T, 256) * c.numHeads();
    s.counters = ctx.alloc("attention split counters", counterInts * 4);
    io.prism.cuda.CudaCheck.check("cuMemsetD32Async(counters)",
        org.bytedeco.cuda.global.cudart.cuMemsetD32Async(s.counters, 0, counterInts, ctx.stream));
    ctx.synchronize();
    s.ensureLogitsHost(ctx, 4L * maxRows * c.vocabSize());
    return s;
  }

  /**
   * Attention blocks aimed for per multiprocessor when choosing splits (property {@code
   * prism.cuda.att-blocks-per-sm}, default 3: measured on an H200, 8B shape, batch 64: one split
   * per row (512 blocks) beat three (1,536 blocks) by 1 ms per step; single rows still get up to
   * one split per 64 keys).
   */
  int attBlocksPerSm = Integer.getInteger("prism.cuda.att-blocks-per-sm", 3);
  /** Fewest keys per split of attn_dec (property {@code prism.cuda.att-min-keys}, default 64). */
  int attMinKeys = Math.max(8, Integer.getInteger("prism.cuda.att-min-keys", 64));
  /** Most key-range splits per attention row (property {@code prism.cuda.att-max-splits}, default and at most 64: attn_dec's merge). */
  int attMaxSplits = Math.min(64, Integer.getInteger("prism.cuda.att-max-splits", 64));

  /** Key-range splits for attention: enough blocks to fill the GPU, >= 64 keys a split, within the workspace. */
  int splits(int T, int groups, int maxPos, int sms) {
    long blocks = (long) T * groups;
    int s = (int) Math.max(1, ((long) attBlocksPerSm * sms + blocks - 1) / blocks);
    s = Math.min(s, Math.max(1, (maxPos + 1) / Math.min(64, attMinKeys)));
    s = Math.min(s, Math.max(1, attMaxSplits));
    s = (int) Math.min(s, partFloats / ((long) T * heads * headDimRec));
    return Math.max(1, s);
  }

  void ensureMeta(CudaContext ctx, long bytes) {
    if (bytes <= metaBytes) return;
    long n = Math.max(bytes, 1 << 20);
    if (meta != 0) {
      ctx.synchronize();
      ctx.free(meta);
      ctx.freeHost(metaPinned);
    }
    meta = ctx.alloc("step metadata", n);
    metaPinned = ctx.allocHost(n);
    metaHost = metaPinned.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    metaBytes = n;
  }

  /** Grows the bias-and-penalty buffers (device and pinned host) to at least {@code bytes}. */
  void ensureAdjust(CudaContext ctx, long bytes) {
    if (bytes <= adjustBytes) return;
    long n = Math.max(bytes, 1 << 16);
    if (adjust != 0) {
      ctx.synchronize();
      ctx.free(adjust);
      ctx.freeHost(adjustPinned);
    }
    adjust = ctx.alloc("logit adjustments", n);
    adjustPinned = ctx.allocHost(n);
    adjustHost = adjustPinned.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    adjustBytes = n;
  }

  void ensureLogitsHost(CudaContext ctx, long bytes) {
    if (bytes <= logitsHostBytes) return;
    if (logitsPinned != null) {
      ctx.synchronize();
      ctx.freeHost(logitsPinned);
    }
    logitsPinned = ctx.allocHost(bytes);
    logitsHost = logitsPinned.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    logitsHostBytes = bytes;
  }

  void close(CudaContext ctx) {
    for (long a : new long[] {x, xb, qkv, h13, hb, xl, logits, argmax, logprobs, part, counters, meta}) ctx.free(a);
    if (dense != 0) ctx.free(dense);
    if (adjust != 0) {
      ctx.free(adjust);
      ctx.freeHost(adjustPinned);
    }
    ctx.freeHost(logprobsPinned);
    ctx.freeHost(metaPinned);
    ctx.freeHost(logitsPinned);
  }
}
