package io.prism.runtime.policy;

import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * The GPU for one new instance of a model (a replica, or an evicted model reactivated where it fits
 * best): the lowest-KVPR GPU that can hold its weights, counting the instance's own weights and KV
 * demand on it, as {@link KvprPlacement} scores a candidate (the paper's Algorithm 1 for one model;
 * the paper reactivates evicted models "on the lowest-KVPR GPU").
 *
 * <pre>
 *   kvprWith(g) = (kvDemand(g) + demand) / (budget(g) - weights(g) - weightBytes)     [1/s^2]
 * </pre>
 * A GPU fits when {@code budget(g) - weights(g) - weightBytes > 0}. Order: preferred GPUs first
 * (e.g. on the node whose host memory already holds the weights), then lowest {@code kvprWith},
 * then most bytes left, then lowest id. Pure and thread-safe.
 */
public final class InstanceTarget {
  private InstanceTarget() {}

  /**
   * One candidate GPU.
   *
   * @param gpuId stable id
   * @param budgetBytes its budget for weights and KV, {@code > 0}
   * @param residentWeightBytes weights resident on it now, {@code >= 0}
   * @param kvDemand KV demand of the instances on it now (bytes/s^2, {@link ModelDemand#kvDemand()} summed)
   * @param preferred whether it is preferred over any GPU that is not (same node)
   */
  public record Candidate(int gpuId, long budgetBytes, long residentWeightBytes, double kvDemand, boolean preferred) {
    public Candidate {
      if (budgetBytes <= 0) throw new IllegalArgumentException("budgetBytes of GPU " + gpuId + " must be > 0, got " + budgetBytes);
      if (residentWeightBytes < 0 || !(kvDemand >= 0)) throw new IllegalArgumentException("weights and demand of GPU " + gpuId + " must be >= 0");
    }

    /** Bytes left for KV once {@code weightBytes} more are resident. */
    public long roomAfter(long weightBytes) {
      return budgetBytes - residentWeightBytes - weightBytes;
    }

    /** KVPR with an instance of {@code weightBytes} and {@code demand} added. */
    public double kvprWith(long weightBytes, double demand) {
      return GpuLedger.kvpr(kvDemand + demand, roomAfter(weightBytes));
    }
  }

  /**
   * The best candidate for an instance of {@code weightBytes} and KV {@code demand}.
   *
   * @return empty if no candidate can hold the weights
   */
  public static Optional<Candidate> choose(List<Candidate> candidates, long weightBytes, double demand) {
    return candidates.stream().filter(c -> c.roomAfter(weightBytes) > 0)
        .min(Comparator.comparing((Candidate c) -> !c.preferred()).thenComparingDouble(c -> c.kvprWith(weightBytes, demand))
            .thenComparingLong(c -> -c.roomAfter(weightBytes)).thenComparingInt(Candidate::gpuId));
  }
}
