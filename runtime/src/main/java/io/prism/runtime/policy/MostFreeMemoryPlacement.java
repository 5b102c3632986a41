package io.prism.runtime.policy;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * The simplest global placement: put a model on the GPU with the most free memory that can hold
 * its weights. A pure function over plain records, so the placement actor, tests and a simulator
 * share it. KV-pressure-aware placement (the paper's Algorithm 1) replaces it later.
 *
 * <p>Ties are broken by GPU id (lexicographic), so the result is deterministic.
 */
public final class MostFreeMemoryPlacement {
  private MostFreeMemoryPlacement() {}

  /**
   * One GPU as placement sees it.
   *
   * @param gpuId stable GPU name (e.g. a sharding entity id)
   * @param freeBytes bytes of the GPU's budget not used by weights or mapped KV pages (pages of the
   *     reserve count as free: they are handed out on demand), minus weights of loads in flight
   */
  public record Candidate(String gpuId, long freeBytes) {
    public Candidate {
      if (gpuId == null || gpuId.isEmpty()) throw new IllegalArgumentException("gpuId must not be empty");
    }
  }

  /**
   * GPUs that can hold {@code requiredBytes}, best first (most free memory, then GPU id).
   *
   * @param requiredBytes bytes the model's weights need (an estimate; 0 if unknown)
   * @throws IllegalArgumentException if {@code requiredBytes} is negative
   */
  public static List<String> rank(List<Candidate> gpus, long requiredBytes) {
    if (requiredBytes < 0) throw new IllegalArgumentException("requiredBytes must be >= 0, got " + requiredBytes);
    List<Candidate> fit = new ArrayList<>();
    for (Candidate c : gpus) if (c.freeBytes() >= requiredBytes) fit.add(c);
    fit.sort(Comparator.comparingLong(Candidate::freeBytes).reversed().thenComparing(Candidate::gpuId));
    List<String> out = new ArrayList<>(fit.size());
    for (Candidate c : fit) out.add(c.gpuId());
    return out;
  }
}
