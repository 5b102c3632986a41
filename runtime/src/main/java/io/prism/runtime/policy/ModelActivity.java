package io.prism.runtime.policy;

/**
 * One model's activity on a GPU, as {@link IdleEvictionPolicy} sees it.
 *
 * @param modelId the model
 * @param resident true iff its weights are on the GPU
 * @param lastActivityNanos time of its last request arrival or finished step, on the caller's clock
 * @param inFlightRequests requests queued or running for it, {@code >= 0}
 */
public record ModelActivity(String modelId, boolean resident, long lastActivityNanos, int inFlightRequests) {
  public ModelActivity {
    if (modelId == null || modelId.isEmpty()) throw new IllegalArgumentException("modelId must not be empty");
    if (inFlightRequests < 0) throw new IllegalArgumentException("inFlightRequests of " + modelId + " must be >= 0, got " + inFlightRequests);
  }
}
