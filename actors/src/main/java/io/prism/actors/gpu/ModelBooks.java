package io.prism.actors.gpu;

import io.prism.actors.PrismMessage;

/**
 * What a GPU actor counts for one model: its local admission and time sharing (the engine's own
 * counters are in {@link GpuStatus.ModelStatus}). Counters start when the model is loaded on the GPU.
 *
 * @param queued requests in the GPU's deadline queue now, or waiting for the model to load; not yet admitted
 * @param admitted requests admitted to the engine
 * @param rejected requests local admission rejected (cannot meet their TTFT deadline; 503)
 * @param deferred requests that local admission deferred at least once (they stayed queued)
 * @param activations activations of evicted weights
 * @param activationNanosTotal time spent in those activations, reclaim for the weights included
 * @param lastActivationNanos the last activation's duration, 0 if none
 * @param evictions evictions of the weights to host memory
 * @param pagesReclaimed pages taken from this model for other models
 * @param preempted its sequences preempted for other models (or for its own decodes)
 */
public record ModelBooks(int queued, long admitted, long rejected, long deferred, long activations, long activationNanosTotal,
    long lastActivationNanos, long evictions, long pagesReclaimed, long preempted) implements PrismMessage {
  /** Nothing counted. */
  public static final ModelBooks EMPTY = new ModelBooks(0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

  /** Requests local admission dropped: rejected ones (deferred ones stay queued). */
  public long dropped() {
    return rejected;
  }
}
