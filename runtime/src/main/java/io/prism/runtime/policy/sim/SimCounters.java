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
}
