package io.prism.runtime.policy.sim;

/**
 * Event counts of one simulation run.
 *
 * <p>Mutable during a run; read-only after.
 */
public final class SimCounters {
  int activations;
  int migrations;
  int evictions;
  int preemptions;
  int rejected;
  int replicasAdded;
  int replicasRemoved;
  /** Simulated times at which migrations started (their decisions), in order. */
  final java.util.List<Long> migrationStartNanos = new java.util.ArrayList<>();
  int peakResidentModels;

  /** Most models whose weights one GPU held at once (being loaded included), checked at every step and activation. */
  public int peakResidentModels() {
    return peakResidentModels;
  }

  /** Weight loads onto a GPU after the start (activations of evicted or unplaced models, and migration targets). */
  public int activations() {
    return activations;
  }

  /** Completed migrations. */
  public int migrations() {
    return migrations;
  }

  /** Models evicted to host memory. */
  public int evictions() {
    return evictions;
  }

  /** Decode sequences preempted (recomputed later). */
  public int preemptions() {
    return preemptions;
  }

  /** Requests refused: Moore-Hodgson rejections, or requests for a model that is not placed. */
  public int rejected() {
    return rejected;
  }

  /**
   * The most migrations started within any window of {@code windowNanos} (half-open, sliding over
   * the run, drain included): the churn bound to compare with "at most 20 per 10 minutes".
   */
  public int maxMigrationsIn(long windowNanos) {
    int best = 0;
    for (int i = 0, j = 0; i < migrationStartNanos.size(); i++) {
      while (migrationStartNanos.get(i) - migrationStartNanos.get(j) >= windowNanos) j++;
      best = Math.max(best, i - j + 1);
    }
    return best;
  }

  /** Replicas added ({@link SimReplicas}); each is also an activation. */
  public int replicasAdded() {
    return replicasAdded;
  }

  /** Replicas removed. */
  public int replicasRemoved() {
    return replicasRemoved;
  }
}
