package io.prism.cuda;

import static io.prism.cuda.CudaCheck.check;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.bytedeco.cuda.cudart.CUctx_st;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.Pointer;

/**
 * A node's pinned host memory for evicted weights, shared by the backends of all its devices: a
 * {@link PinnedChunkPool} whose chunks come from {@code cuMemHostAlloc(CU_MEMHOSTALLOC_PORTABLE)}
 * (page-locked and usable by every context of the process), pinned ahead by background fill
 * threads from {@link #open} on, so an eviction copies (bytes / device-to-host bandwidth) instead of
 * pinning first. Each evicted copy is a list of chunks ({@link PinnedChunkPool.Chunks}); the
 * copies go device-to-host chunk by chunk on the device's stream with one synchronisation at the
 * end, and back the same way ({@link WeightResidency}).
 *
 * <p>The pool holds its own reference to device {@code ordinal}'s primary context, pushed around
 * each allocation and free ({@code cuCtxPushCurrent} / {@code cuCtxPopCurrent}), so the fill threads
 * have a context and a device thread's current context is left as it was. Each {@link CudaDevice}
 * that uses the pool {@link #retain}s it and {@link #release}s it when it closes; the last release
 * stops filling, frees every free chunk (leased ones when their copy is released) and releases the
 * context.
 *
 * <p>Threading: thread-safe. The fill threads are daemon threads named {@code prism-pinned-pool-N};
 * they call only {@code cuMemHostAlloc} (with the pool's context pushed), never touch a device's
 * stream, and end once the target is pinned.
 */
final class PinnedHostPool {
  private static final AtomicInteger THREADS = new AtomicInteger();

  private final int ordinal;
  private final CUctx_st context;
  private final PinnedChunkPool chunks;
  private final Duration maxWait;
  private int users;
  private boolean closed;

  private PinnedHostPool(int ordinal, CUctx_st context, PinnedPoolSettings s) {
    this.ordinal = ordinal;
    this.context = context;
    this.maxWait = s.maxWait();
    this.chunks = new PinnedChunkPool(s.chunkBytes(), s.targetChunks(), new Allocator());
  }

  /**
   * Retains GPU {@code ordinal}'s primary context and starts pinning {@code s.bytes()} (rounded up
   * to chunks) on {@code s.fillThreads()} background threads; returns at once.
   *
   * @throws io.prism.runtime.memory.DeviceException naming the failed driver call
   */
  static PinnedHostPool open(int ordinal, PinnedPoolSettings s) {
    CudaContext.initDriver();
    int[] dev = new int[1];
    check("cuDeviceGet", cudart.cuDeviceGet(dev, ordinal));
    CUctx_st ctx = new CUctx_st();
    check("cuDevicePrimaryCtxRetain(pinned pool)", cudart.cuDevicePrimaryCtxRetain(ctx, dev[0]));
    PinnedHostPool p = new PinnedHostPool(dev[0], ctx, s);
    if (s.targetChunks() > 0) {
      p.chunks.startFilling(s.fillThreads(), r -> {
        Thread t = new Thread(r, "prism-pinned-pool-" + THREADS.incrementAndGet());
        t.setDaemon(true);
        return t;
      });
    }
    return p;
  }

  /** The chunks: take, release, figures. */
  PinnedChunkPool chunks() {
    return chunks;
  }

  /** How long an eviction waits for the fill threads before pinning a shortfall itself. */
  Duration maxWait() {
    return maxWait;
  }

  /**
   * One more device uses the pool.
   *
   * @throws IllegalStateException if it was closed by its last release
   */
  synchronized void retain() {
    if (closed) throw new IllegalStateException("the pinned host pool is closed");
    users++;
  }

  /** A device stops using the pool; the last one closes it (see the class comment). */
  void release() {
    synchronized (this) {
      if (closed) return;
      if (--users > 0) return;
      closed = true;
    }
    chunks.close();
    check("cuDevicePrimaryCtxRelease(pinned pool)", cudart.cuDevicePrimaryCtxRelease(ordinal));
  }

  /** {@code cuMemHostAlloc} / {@code cuMemFreeHost} with the pool's context pushed on the calling thread. */
  private final class Allocator implements PinnedChunkPool.Allocator {
    @Override
    public long allocate(long bytes) {
      check("cuCtxPushCurrent(pinned pool)", cudart.cuCtxPushCurrent(context));
      try {
        Pointer p = new Pointer();
        check("cuMemHostAlloc(" + bytes + " bytes, PORTABLE)", cudart.cuMemHostAlloc(p, bytes, cudart.CU_MEMHOSTALLOC_PORTABLE));
        return p.address();
      } finally {
        cudart.cuCtxPopCurrent(new CUctx_st());
      }
    }

    @Override
    public void free(long address) {
      check("cuCtxPushCurrent(pinned pool)", cudart.cuCtxPushCurrent(context));
      try {
        check("cuMemFreeHost", cudart.cuMemFreeHost(new DevicePointer(address)));
      } finally {
        cudart.cuCtxPopCurrent(new CUctx_st());
      }
    }
  }
}
