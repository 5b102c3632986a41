package io.prism.runtime.engine;

import io.prism.runtime.memory.BlockManager;

/**
 * The time-sharing half of a {@link ModelEngine}: moving its weights off the device ({@link
 * ModelEngine#evict()}) and back ({@link ModelEngine#activate()}), with the KV pages and the reserve
 * wish that go with them, counting evictions and activations for {@link EngineStats}. Weight bytes in
 * the pool are the caller's. Threading: the engine thread.
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
   * weights; no-op if already evicted.
   *
   * @throws IllegalStateException if {@code inFlight > 0}
   */
  void evict(String modelId, int inFlight) {
    if (!backend.weightsResident()) return;
    if (inFlight > 0) throw new IllegalStateException("model " + modelId + " has " + inFlight + " requests in flight; evict only an idle model");
    blocks.releaseAll();
    blocks.wantReserve(false);
    backend.evictWeights();
    evictions++;
  }

  /**
   * Brings the weights back and renews the reserve wish.
   *
   * @return false (and no-op) if they were resident
   */
  boolean activate() {
    if (backend.weightsResident()) return false;
    backend.activateWeights();
    blocks.wantReserve(true);
    activations++;
    return true;
  }
}
