package io.prism.cuda;

import static io.prism.cuda.CudaCheck.check;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.Pointer;

/**
 * Double-buffered host-to-device copier through two pinned staging buffers: host data is converted
 * (float32 to bf16, round to nearest even, or copied as is) into one buffer while the previous one
 * is copied with {@code cuMemcpyHtoDAsync}, events telling when a buffer is free again. Threading:
 * device thread only.
 */
final class WeightUploader implements AutoCloseable {
  static final int STAGING_BYTES = 32 << 20;
  private final CudaContext ctx;
  private final Precision p;
  private final Pointer[] staging = new Pointer[2];
  private final ByteBuffer[] views = new ByteBuffer[2];
  private final CUevent_st[] done = new CUevent_st[2];
  private final boolean[] pending = new boolean[2];
  private int cur;

  WeightUploader(CudaContext ctx, Precision p) {
    this.ctx = ctx;
    this.p = p;
    for (int i = 0; i < 2; i++) {
      staging[i] = ctx.allocHost(STAGING_BYTES);
      views[i] = staging[i].asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
      done[i] = new CUevent_st();
      check("cuEventCreate", cudart.cuEventCreate(done[i], cudart.CU_EVENT_DISABLE_TIMING));
    }
  }

  private ByteBuffer next() {
    if (pending[cur]) check("cuEventSynchronize", cudart.cuEventSynchronize(done[cur]));
    ByteBuffer b = views[cur];
    b.clear();
    return b;
  }

  private void send(long dst, long bytes) {
    check("cuMemcpyHtoDAsync", cudart.cuMemcpyHtoDAsync(dst, staging[cur], bytes, ctx.stream));
    check("cuEventRecord", cudart.cuEventRecord(done[cur], ctx.stream));
    pending[cur] = true;
    cur ^= 1;
  }

  /** Copies {@code src[from, from + n)} to {@code dst}, as float32 when {@code f32} else in the precision. */
  void put(long dst, float[] src, long from, long n, boolean f32) {
    int eb = f32 ? 4 : p.elementBytes;
    long perChunk = STAGING_BYTES / eb;
    for (long done0 = 0; done0 < n; done0 += perChunk) {
      int m = (int) Math.min(perChunk, n - done0);
      ByteBuffer b = next();
      int off = (int) (from + done0);
      if (eb == 4) {
        b.asFloatBuffer().put(src, off, m);
      } else {
        java.nio.ShortBuffer sb = b.asShortBuffer();
        for (int i = 0; i < m; i++) sb.put(i, Bf16.fromFloat(src[off + i]));
      }
      send(dst + done0 * eb, (long) m * eb);
    }
  }

  /** Copies raw bytes (quantized blocks) to {@code dst}. */
  void putBytes(long dst, byte[] src) {
    for (int done0 = 0; done0 < src.length; done0 += STAGING_BYTES) {
      int m = Math.min(STAGING_BYTES, src.length - done0);
      next().put(src, done0, m);
      send(dst + done0, m);
    }
  }

  /** Waits until every copy is done. */
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
