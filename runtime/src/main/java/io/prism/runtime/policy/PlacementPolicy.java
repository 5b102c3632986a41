package io.prism.runtime.policy;

import java.util.List;

/**
 * A global placement policy: a pure function from the models' demand and the GPUs' capacity to a
 * {@link Placement}. Implementations are stateless and thread-safe; equal inputs give equal plans.
 */
public interface PlacementPolicy {
  /**
   * Computes a placement plan.
   *
   * @param models every model to consider (placed or not), unique ids
   * @param gpus every usable GPU, unique ids
   * @throws IllegalArgumentException on duplicate model or GPU ids. A model whose current GPU is
   *     not in {@code gpus} (the GPU failed or left) is placed anew; its move names the old GPUs.
   */
  Placement place(List<ModelDemand> models, List<GpuCapacity> gpus);
}
