package io.prism.runtime.policy;

import java.util.List;

/**
 * One model's memory on a GPU, as {@link ReclaimPolicy} sees it. Page counts are in the pool's
 * pages ({@code pageBytes}, 2 MiB on CUDA).
 *
 * <pre>
 *   heldPages = emptyPages + cachedBlockPages + pages of running sequences (+ pages shared or partly used)
 * </pre>
 *
 * @param modelId the model
 * @param slo its SLO
 * @param resident true iff its weights are on the GPU
 * @param heldPages KV pages it holds, {@code >= 0}
 * @param emptyPages held pages with no block in use (free to hand back at once)
 * @param cachedBlockPages held pages whose blocks only cache finished requests' prefixes (become
 *     empty when the cached blocks are dropped)
 * @param minPages guaranteed minimum: reclaim never takes it below this, short of evicting it; {@code >= 0}
 * @param idleNanos time since its last activity (request arrival or step), {@code >= 0}
 * @param weightPages pages the pool can map once its weights leave the GPU ({@code ceil(weightBytes / pageBytes)}
 *     or what the pool actually accounts)
 * @param running its running decode sequences
 */
public record ModelMemory(String modelId, Slo slo, boolean resident, int heldPages, int emptyPages, int cachedBlockPages,
    int minPages, long idleNanos, int weightPages, List<RunningSequence> running) {

  /**
   * A running decode sequence.
   *
   * @param sequenceId request id
   * @param pages pages that become empty if it is preempted (its blocks, rounded down to whole pages), {@code >= 0}
   * @param slackNanos time before it breaks its TPOT SLO ({@link DecodePreemptionPolicy#slackNanos})
   */
  public record RunningSequence(String sequenceId, int pages, long slackNanos) {
    public RunningSequence {
      if (pages < 0) throw new IllegalArgumentException("pages of sequence " + sequenceId + " must be >= 0, got " + pages);
    }
  }

  public ModelMemory {
    if (modelId == null || modelId.isEmpty()) throw new IllegalArgumentException("modelId must not be empty");
    if (slo == null) throw new IllegalArgumentException("slo of " + modelId + " must not be null");
    if (heldPages < 0 || emptyPages < 0 || cachedBlockPages < 0 || minPages < 0 || weightPages < 0 || idleNanos < 0) {
      throw new IllegalArgumentException("model " + modelId + ": page counts and idle time must be >= 0 (held " + heldPages
          + ", empty " + emptyPages + ", cached " + cachedBlockPages + ", min " + minPages + ", weights " + weightPages
          + ", idle " + idleNanos + " ns)");
    }
    running = List.copyOf(running == null ? List.of() : running);
    long used = (long) emptyPages + cachedBlockPages + running.stream().mapToLong(RunningSequence::pages).sum();
    if (used > heldPages) {
      throw new IllegalArgumentException("model " + modelId + ": empty " + emptyPages + " + cached " + cachedBlockPages
          + " + running sequences' pages exceed held pages " + heldPages);
    }
  }
}
