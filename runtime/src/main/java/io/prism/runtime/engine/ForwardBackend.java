package io.prism.runtime.engine;

import io.prism.runtime.memory.KvCache;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.model.ModelConfig;

/**
 * The forward pass of one model instance over its paged {@link KvCache}. Implementations: the host
 * one in {@code io.prism.runtime.forward} and the CUDA one in {@code cuda-native}.
 *
 * <p>Threading: called only from the engine loop thread that owns the device.
 */
public interface ForwardBackend extends AutoCloseable {
  ModelConfig config();

  /** The KV cache this backend reads and writes. */
  KvCache kvCache();

  /**
   * Runs one step: for every entry, writes K and V of its tokens into their block slots, attends
   * causally over positions {@code [0, startPos + i]}, and for entries with {@code wantLogits} writes
   * the last token's logits ({@code [vocabSize]} floats, unnormalised) into {@code logits[row]},
   * where {@code row} is the entry's index. Rows of other entries are left untouched.
   *
   * @param logits {@code [entries][vocabSize]}, allocated by the caller
   * @throws IllegalArgumentException if a position is beyond {@code maxSeqLen} or a block table is too short
   * @throws IllegalStateException if the weights are evicted ({@link #weightsResident()} is false)
   */
  void forward(ForwardBatch batch, float[][] logits);

  /** Bytes of weights this backend holds on its device (when resident). */
  long weightBytes();

  /**
   * Whether the weights are on the device, so that {@link #forward} can run. Default: always true
   * (a backend that cannot evict).
   */
  default boolean weightsResident() {
    return true;
  }

  /**
   * Drops the device copy of the weights and keeps a host copy (pinned on the GPU backend) for
   * {@link #activateWeights()}; {@link #forward} then throws {@link IllegalStateException}. The
   * caller releases the weight bytes from the page pool's accounting afterwards ({@code
   * PagePool.releaseWeights}). No-op if already evicted. Default: unsupported.
   *
   * @throws UnsupportedOperationException if this backend cannot evict its weights
   */
  default void evictWeights() {
    throw new UnsupportedOperationException(getClass().getSimpleName() + " cannot evict its weights");
  }

  /**
   * Brings the weights back to the device from the host copy. The caller has reserved their bytes in
   * the page pool first ({@code PagePool.reserveWeights}). No-op if resident. Default: no-op (a
   * backend that cannot evict is always resident).
   *
   * @throws RuntimeException the backend's device error if the copy fails (the weights stay evicted)
   */
  default void activateWeights() {}

  /**
   * Evicts the weights as {@link #evictWeights()}, keeping a host copy only if {@code keepHostCopy}
   * (the node's host tier has room, {@code HostTier}); without one the next activation reloads the
   * weights from the model's source ({@link #needsReload()}, {@link #activateWeights(LoadedModel)}).
   * Default: evicts, then drops the host copy if it may not be kept.
   */
  default void evictWeights(boolean keepHostCopy) {
    evictWeights();
    if (!keepHostCopy) dropHostCopy();
  }

  /**
   * Bytes of host memory this backend holds as the copy its next activation reads (pinned on CUDA,
   * also kept while resident to spare the next eviction its device-to-host copy; on the host backend
   * only while evicted, since a resident model's arrays are its device copy). 0 when none. Default 0.
   */
  default long hostCopyBytes() {
    return 0;
  }

  /**
   * Frees the host copy ({@link #hostCopyBytes()} becomes 0). While evicted, the next activation must
   * then reload the weights ({@link #needsReload()}). No-op when there is none. Default: no-op.
   */
  default void dropHostCopy() {}

  /**
   * Whether the weights are evicted and their host copy was dropped: only {@link
   * #activateWeights(LoadedModel)} with the model read again from its source brings them back (the
   * disk tier). Default false.
   */
  default boolean needsReload() {
    return false;
  }

  /**
   * Brings the weights back as {@link #activateWeights()}; if the host copy was dropped, from {@code
   * source}: the model read again from its file, or for {@code random:} weights the same config (the
   * weights are generated again from the seed the backend was built with). The caller has reserved
   * the bytes in the pool first. Default: {@link #activateWeights()} ({@code source} unused).
   *
   * @param source the model as its loader returns it now; may be null when {@link #needsReload()} is false
   * @throws IllegalArgumentException if {@code source} is needed and missing or of another shape
   */
  default void activateWeights(LoadedModel source) {
    activateWeights();
  }

  @Override
  void close();
}
