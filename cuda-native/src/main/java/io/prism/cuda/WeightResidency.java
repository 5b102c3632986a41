package io.prism.cuda;

import static io.prism.cuda.CudaCheck.check;

import io.prism.runtime.model.LoadedModel;
import java.util.function.Function;
import org.bytedeco.cuda.global.cudart;

/**
 * Where one backend's weights are (the tiers of ServerlessLLM, Fu et al., OSDI 2024: GPU, pinned
 * host, disk) and the copies between them:
 *
 * <pre>
 *   device  [ w.base ........................................ w.base + w.bytes )
 *              │ chunk 0 │ chunk 1 │ ... │ chunk n-1 (bytesAt(n-1) <= chunkBytes)
 *   evict:     ▼ DtoH async per chunk on the device's stream, one synchronize at the end
 *   host    { chunk addresses from the node's PinnedHostPool }   (kept while resident too)
 *   activate:  ▲ HtoD async per chunk into a fresh cuMemAlloc, one synchronize at the end
 * </pre>
 *
 * <p>The host copy is kept after an activation (weights never change), so a later eviction frees the
 * device memory without copying; it goes back to the pool exactly once, when dropped (the host tier
 * asked, or an eviction without a copy) or when the backend closes. If the pool cannot give the
 * chunks ({@link PinnedChunkPool.Take.Unavailable}), the eviction goes to the disk tier instead
 * (no copy; the next activation reloads through the device's load path), or fails when there is no
 * load path.
 *
 * <p>Threading: the device's thread only (as its backend).
 */
final class WeightResidency {
  private final CudaContext ctx;
  private final DeviceWeights w;
  private final PinnedHostPool pool;
  private PinnedChunkPool.Chunks hostCopy;
  private Function<LoadedModel, DeviceWeights> reloader;

  WeightResidency(CudaContext ctx, DeviceWeights w, PinnedHostPool pool) {
    this.ctx = ctx;
    this.w = w;
    this.pool = pool;
  }

  /** Sets how a dropped host copy is rebuilt: the device's load path for this model (weights of the same layout). */
  void reloader(Function<LoadedModel, DeviceWeights> r) {
    this.reloader = r;
  }

  /**
   * Copies the weights into pinned chunks unless a copy is held already (or {@code keepHostCopy} is
   * false). Does not free the device memory. The caller made the context current and synchronized.
   *
   * @throws IllegalStateException if no chunks could be had and there is no load path to reload from
   * @throws io.prism.runtime.memory.DeviceException if a copy fails (the chunks went back)
   */
  void copyOut(boolean keepHostCopy) {
    if (!keepHostCopy || hostCopy != null) return;
    PinnedChunkPool.Take t = pool.chunks().take(w.bytes, pool.maxWait());
    if (t instanceof PinnedChunkPool.Take.Unavailable u) {
      if (reloader == null) {
        throw new IllegalStateException("no pinned host memory for the " + w.bytes + " weight bytes of " + w.config.name() + " (" + u.reason()
            + ") and no load path to reload them from; lower prism.node.host-tier-bytes or free host memory");
      }
      return; // the disk tier: the pool could not give the chunks (u.reason()); hostCopyBytes() stays 0
    }
    PinnedChunkPool.Chunks c = ((PinnedChunkPool.Take.Granted) t).chunks();
    try {
      long chunk = pool.chunks().chunkBytes();
      for (int i = 0; i < c.count(); i++) {
        check("cuMemcpyDtoHAsync(weights, chunk " + i + ")",
            cudart.cuMemcpyDtoHAsync(new DevicePointer(c.address(i)), w.base + i * chunk, c.bytesAt(i), ctx.stream));
      }
      ctx.synchronize();
    } catch (RuntimeException e) {
      c.release();
      throw e;
    }
    hostCopy = c;
  }

  /** Bytes of the pinned host copy ({@code w.bytes} once made, also while resident), 0 when none. */
  long hostCopyBytes() {
    return hostCopy == null ? 0 : w.bytes;
  }

  /** Chunks of the host copy, 0 when none. */
  int hostCopyChunks() {
    return hostCopy == null ? 0 : hostCopy.count();
  }

  /** Returns the host copy's chunks to the pool (exactly once); no-op when there is none. */
  void dropHostCopy() {
    if (hostCopy == null) return;
    PinnedChunkPool.Chunks c = hostCopy;
    hostCopy = null;
    c.release();
  }

  /** Whether the weights are evicted without a host copy. */
  boolean needsReload() {
    return !w.onDevice() && hostCopy == null;
  }

  /**
   * Brings evicted weights back: from the host copy into a new device allocation, or, without one,
   * through the load path from {@code source}. The caller made the context current.
   *
   * @throws IllegalArgumentException if a reload is needed and {@code source} or the load path is
   *     missing, or the reload yields another layout
   * @throws io.prism.runtime.memory.DeviceException if the allocation, upload or a copy fails (the weights stay evicted)
   */
  void activate(LoadedModel source) {
    if (w.onDevice()) return;
    if (hostCopy == null) {
      if (source == null || reloader == null) throw new IllegalArgumentException("reloading " + w.config.name() + " needs its model and the device's load path");
      DeviceWeights fresh = reloader.apply(source);
      if (fresh.bytes != w.bytes || fresh.precision != w.precision) {
        fresh.close();
        throw new IllegalArgumentException("reloaded " + w.config.name() + " has " + fresh.bytes + " weight bytes, not " + w.bytes);
      }
      w.rebase(fresh.takeAllocation());
      return;
    }
    long base = ctx.alloc("weights " + w.config.name(), w.bytes);
    try {
      long chunk = pool.chunks().chunkBytes();
      for (int i = 0; i < hostCopy.count(); i++) {
        check("cuMemcpyHtoDAsync(weights, chunk " + i + ")",
            cudart.cuMemcpyHtoDAsync(base + i * chunk, new DevicePointer(hostCopy.address(i)), hostCopy.bytesAt(i), ctx.stream));
      }
      ctx.synchronize();
    } catch (RuntimeException e) {
      ctx.free(base);
      throw e;
    }
    w.rebase(base);
  }
}
