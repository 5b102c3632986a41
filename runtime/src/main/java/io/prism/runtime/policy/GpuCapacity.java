package io.prism.runtime.policy;

/**
 * One GPU as the global placement sees it.
 *
 * @param gpuId cluster-wide GPU id; ties between equally good GPUs go to the lowest id
 * @param memoryBudgetBytes bytes the page pool may use for weights and KV together (the device's
 *     memory minus workspace and the reserve), {@code > 0}
 */
public record GpuCapacity(int gpuId, long memoryBudgetBytes) {
  public GpuCapacity {
    if (gpuId < 0) throw new IllegalArgumentException("gpuId must be >= 0, got " + gpuId);
    if (memoryBudgetBytes <= 0) throw new IllegalArgumentException("memoryBudgetBytes of GPU " + gpuId + " must be > 0, got " + memoryBudgetBytes);
  }
}
