package io.prism.runtime.policy;

import java.util.List;

/**
 * One change a {@link Placement} asks for: a model goes from {@code fromGpus} to {@code toGpus}.
 * With empty {@code fromGpus} it is a placement (first load, or activation of an evicted model);
 * otherwise a migration (serve on the source until the target is ready, DESIGN.md section 6).
 *
 * @param modelId the model
 * @param fromGpus GPUs it holds now, one per shard (empty if none)
 * @param toGpus GPUs it should hold, one per shard, never empty
 * @param reason human-readable cause with the numbers behind it, for the event log
 */
public record Move(String modelId, List<Integer> fromGpus, List<Integer> toGpus, String reason) {
  public Move {
    fromGpus = List.copyOf(fromGpus);
    toGpus = List.copyOf(toGpus);
    if (toGpus.isEmpty()) throw new IllegalArgumentException("move of " + modelId + " has no target GPU");
  }

  /** True iff the model is running somewhere now and has to move (not a first placement). */
  public boolean isMigration() {
    return !fromGpus.isEmpty();
  }
}
