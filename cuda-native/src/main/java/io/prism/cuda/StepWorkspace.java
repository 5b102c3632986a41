package io.prism.cuda;

import io.prism.runtime.model.ModelConfig;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.bytedeco.javacpp.Pointer;

/**
 * Device and pinned host buffers of one {@link CudaForwardBackend}, sized for {@code chunk} tokens
 * per forward chunk (shapes in the backend's Javadoc): x [T, dim] f32, xb [T, dim] W, qkv [T, dim +
 * 2 kvDim] f32, h13 [T, 2 hidden] f32, hb [T, hidden] W, xl [LOGIT_ROWS, dim] W, logits [LOGIT_ROWS,
 * vocab] f32, argmax [LOGIT_ROWS] int, attention partials [max(T, 256), heads, headDim + 2] f32, and
 * the step metadata (device + pinned host, grown on demand).
 *
 * <p>Threading: device thread only.
 */
final class StepWorkspace {
  long x, xb, qkv, h13, hb, xl, logits, argmax, part, meta;
  long partFloats;
  int chunk, headDimRec, heads;
  long metaBytes;
  Pointer metaPinned, logitsPinned;
  ByteBuffer metaHost, logitsHost;
  long logitsHostBytes;

  static StepWorkspace allocate(CudaContext ctx, ModelConfig c, Precision p, int chunk) {
    StepWorkspace s = new StepWorkspace();
    int e = p.elementBytes;
    long T = chunk;
    int maxRows = CudaForwardBackend.LOGIT_ROWS;
    s.chunk = chunk;
    s.heads = c.numHeads();
    s.headDimRec = c.headDim() + 2;
    s.x = ctx.alloc("x", T * c.dim() * 4);
    s.xb = ctx.alloc("xb", T * c.dim() * e);
    s.qkv = ctx.alloc("qkv", T * (c.dim() + 2L * c.kvDim()) * 4);
    s.h13 = ctx.alloc("h13", T * 2L * c.hiddenDim() * 4);
    s.hb = ctx.alloc("hb", T * c.hiddenDim() * e);
    s.xl = ctx.alloc("xl", (long) maxRows * c.dim() * e);
    s.logits = ctx.alloc("logits", (long) maxRows * c.vocabSize() * 4);
    s.argmax = ctx.alloc("argmax", 4L * maxRows);
    s.partFloats = Math.max(T, 256) * c.numHeads() * (long) s.headDimRec;
    s.part = ctx.alloc("attention partials", s.partFloats * 4);
    s.ensureLogitsHost(ctx, 4L * maxRows * c.vocabSize());
    return s;
  }

  /** Key-range splits for attention: enough blocks to fill the GPU, >= 64 keys a split, within the workspace. */
  int splits(int T, int groups, int maxPos, int sms) {
    long blocks = (long) T * groups;
    int s = (int) Math.max(1, (8L * sms + blocks - 1) / blocks);
    s = Math.min(s, Math.max(1, (maxPos + 1) / 64));
    s = Math.min(s, 64);
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
    for (long a : new long[] {x, xb, qkv, h13, hb, xl, logits, argmax, part, meta}) ctx.free(a);
    ctx.freeHost(metaPinned);
    ctx.freeHost(logitsPinned);
  }
}
