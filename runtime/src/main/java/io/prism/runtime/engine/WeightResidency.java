package io.prism.runtime.engine;

import io.prism.runtime.memory.BlockManager;
import io.prism.runtime.model.LoadedModel;

/**
 * The time-sharing half of a {@link ModelEngine}: moving its weights off the device ({@link
 * ModelEngine#evict(boolean)}) to the host tier or, without a host copy, to the disk tier, and
 * back ({@link ModelEngine#activate(LoadedModel)}), with the KV pages and the reserve wish that go
 * with them, counting evictions and activations for {@link EngineStats}. Weight bytes in the pool
 * and host bytes in the host tier are the caller's. Threading: the engine thread.
 */
final class WeightResidency {
  private final ForwardBackend backend;
  private final BlockManager blocks;
  long evictions, activations;

  WeightResidency(ForwardBackend backend, BlockManager blocks) {
    this.backend = backend;
    this.blocks = blocks;
  }

  /**
   * Drops the prefix cache and every page id, withdraws the reserve wish and evicts the backend's
   * weights, keeping a host copy if {@code keepHostCopy}; no-op if already evicted.
   *
   * @throws IllegalStateException if {@code inFlight > 0}
   */
  void evict(String modelId, int inFlight, boolean keepHostCopy) {
    if (!backend.weightsResident()) return;
    if (inFlight > 0) throw new IllegalStateException("model " + modelId + " has " + inFlight + " requests in flight; evict only an idle model");
    blocks.releaseAll();
    blocks.wantReserve(false);
    backend.evictWeights(keepHostCopy);
    evictions++;
  }

  /**
   * Brings the weights back (from {@code reloaded} if the host copy was dropped) and renews the
   * reserve wish.
   *
   * @return false (and no-op) if they were resident
   * @throws IllegalArgumentException if a reload is needed and {@code reloaded} cannot serve it
   */
  boolean activate(LoadedModel reloaded) {
    if (backend.weightsResident()) return false;
    backend.activateWeights(reloaded);
    blocks.wantReserve(true);
    activations++;
    return true;
  }

  /** Where the weights are now. */
  WeightTier tier() {
    if (backend.weightsResident()) return WeightTier.GPU;
    return backend.needsReload() ? WeightTier.DISK : WeightTier.HOST;
  }
}
