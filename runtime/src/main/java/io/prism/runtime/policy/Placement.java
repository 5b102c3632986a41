package io.prism.runtime.policy;

import java.util.List;
import java.util.Map;

/**
 * A placement plan: which GPUs each model should hold, and the moves that get there from the
 * current state.
 *
 * @param assignment model id -> GPU ids (one per shard), for every placed model, in model-id order
 * @param moves the changes against the models' {@link ModelDemand#currentGpus()}, in the order the
 *     policy decided them (Algorithm 1: highest KV demand first)
 * @param unplaced model ids that fit on no GPU (weights too large for every GPU's room), in model-id
 *     order; they keep no GPU (a currently placed one among them is to be evicted)
 * @param kvprByGpu KV pressure ratio of every GPU under the plan, in GPU-id order; {@code +Infinity}
 *     when models with KV demand leave the GPU no memory for KV
 * @param reason one-line summary for the event log
 */
public record Placement(Map<String, List<Integer>> assignment, List<Move> moves, List<String> unplaced,
    Map<Integer, Double> kvprByGpu, String reason) {
  public Placement {
    assignment = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(assignment));
    moves = List.copyOf(moves);
    unplaced = List.copyOf(unplaced);
    kvprByGpu = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(kvprByGpu));
  }

  /** Migrations only (moves of models that hold GPUs now). */
  public List<Move> migrations() {
    return moves.stream().filter(Move::isMigration).toList();
  }
}
