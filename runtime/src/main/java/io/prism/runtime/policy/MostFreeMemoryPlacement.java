package io.prism.runtime.policy;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The simple baseline placement the server starts with: models keep the GPUs they hold; every other
 * model goes to the GPUs with the most free memory (budget minus weights already assigned), ties to
 * the lowest GPU id. Ignores load entirely; never migrates a model whose GPUs still exist.
 *
 * <p>Order: models that hold GPUs first (model-id order), then the rest by weight bytes descending
 * (larger models first pack better), ties by model id. A model whose shard fits on fewer than
 * {@code tensorParallelDegree} GPUs (leaving at least one byte for KV) is unplaced. A held GPU that
 * is missing from the input makes the model be placed anew.
 *
 * <p>Pure and thread-safe.
 */
public final class MostFreeMemoryPlacement implements PlacementPolicy {
  @Override
  public Placement place(List<ModelDemand> models, List<GpuCapacity> gpus) {
    GpuLedger.checkUniqueModels(models);
    GpuLedger ledger = new GpuLedger(gpus);
    Map<String, List<Integer>> assignment = new TreeMap<>();
    List<ModelDemand> pending = new ArrayList<>();
    List<ModelDemand> placedNow = new ArrayList<>(models.stream().filter(ModelDemand::isPlaced).toList());
    placedNow.sort(Comparator.comparing(ModelDemand::modelId));
    int kept = 0;
    for (ModelDemand m : placedNow) {
      if (m.currentGpus().stream().allMatch(ledger::contains)) {
        List<Integer> cur = m.currentGpus(); // shard order preserved
        ledger.add(cur, m.shardWeightBytes(), m.shardKvDemand());
        assignment.put(m.modelId(), cur);
        kept++;
      } else {
        pending.add(m);
      }
    }
    pending.addAll(models.stream().filter(m -> !m.isPlaced()).toList());
    pending.sort(Comparator.comparingLong(ModelDemand::weightBytes).reversed().thenComparing(ModelDemand::modelId));

    List<Move> moves = new ArrayList<>();
    List<String> unplaced = new ArrayList<>();
    for (ModelDemand m : pending) {
      long w = m.shardWeightBytes();
      List<Integer> candidates = new ArrayList<>();
      for (int g : ledger.gpuIds()) if (ledger.fits(g, w)) candidates.add(g);
      if (candidates.size() < m.tensorParallelDegree()) {
        unplaced.add(m.modelId());
        continue;
      }
      candidates.sort(Comparator.<Integer>comparingLong(ledger::freeBytes).reversed().thenComparing(g -> g));
      List<Integer> chosen = GpuLedger.sorted(candidates.subList(0, m.tensorParallelDegree()));
      ledger.add(chosen, w, m.shardKvDemand());
      assignment.put(m.modelId(), chosen);
      moves.add(new Move(m.modelId(), m.currentGpus(), chosen,
          m.isPlaced() ? "current GPUs " + m.currentGpus() + " gone; most free memory " + chosen : "most free memory " + chosen));
    }
    unplaced.sort(null);
    String summary = String.format(Locale.ROOT, "most-free-memory placement: %d kept, %d placed, %d unplaced",
        kept, moves.size(), unplaced.size());
    return new Placement(assignment, moves, unplaced, ledger.kvprByGpu(), summary);
  }
}
