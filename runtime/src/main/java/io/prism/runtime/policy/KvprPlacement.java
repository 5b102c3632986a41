package io.prism.runtime.policy;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * KV-pressure-ratio placement, the paper's Algorithm 1 (Prism, arXiv 2505.04021, section on global
 * scheduling).
 *
 * <p>Definitions (units: token rate in tokens/s, bytes, TPOT in seconds):
 * <pre>
 *   demand(m)  = tokenRate(m) * kvBytesPerToken(m) / tpotSlo(m)              [bytes / s^2]
 *   KVPR(g)    = sum over shards s on g of demand(s) / (budget(g) - sum of weight bytes on g)   [1 / s^2]
 * </pre>
 * A GPU with positive demand and no bytes left for KV has KVPR {@code +Infinity}; one without demand
 * has KVPR 0. Lower is better: KV demand spread over the memory that can hold it.
 *
 * <p>Algorithm, building the plan from empty GPUs:
 * <ol>
 *   <li>Sort models by {@code demand} descending (ties: model id ascending).
 *   <li>For each model with {@code k = tensorParallelDegree} shards, the candidate GPUs are those on
 *       which one shard's weights fit and leave at least one byte for KV. Score each candidate by
 *       its KVPR <i>with the shard added</i> (so the model's own weights count against the GPU).
 *       The best set is the {@code k} lowest-scoring candidates (ties: most free memory, then lowest GPU id); shards of one
 *       model are on distinct GPUs by construction. Fewer than {@code k} candidates: the model is
 *       unplaced. A new shard list is in ascending GPU id (shard {@code i} on the {@code i}-th).
 *   <li>Stickiness: if the model holds GPUs now and all of them are still candidates, it stays
 *       unless {@code score(current) - score(best) > tau} and, with a relative threshold {@code r},
 *       also {@code score(current) > (1 + r) * score(best)}; the score of a set is the largest
 *       score of its GPUs. Otherwise it moves to the best set. A kept model keeps its
 *       GPU list as given (shard order preserved).
 * </ol>
 * Complexity {@code O(M log M + M * G log G)} for {@code M} models and {@code G} GPUs.
 *
 * <p>{@code tau} is absolute, in KVPR units (1/s^2). For scale: a model at 1000 tokens/s with
 * 128 KiB per token and a 100 ms TPOT SLO on 60 GB of free memory has KVPR about 0.022; the default
 * {@code tau} is 0.005. {@code tau = 0} moves a model whenever a strictly better set exists; a
 * huge {@code tau} never migrates running models. Because KVPR scales with rates, KV sizes and
 * SLOs, an absolute {@code tau} has to be tuned per fleet; {@link #withRelativeThreshold} adds a
 * scale-free condition (our addition, not in the paper).
 *
 * <p>Pure and thread-safe. The paper's released prototype does not implement this (DESIGN.md
 * section 6); this is our reading of Algorithm 1.
 */
public final class KvprPlacement implements PlacementPolicy {
  /** Default migration threshold, in KVPR units (1/s^2); see the class comment for scale. */
  public static final double DEFAULT_TAU = 0.005;

  private final double tau;
  private final double relativeThreshold;

  /**
   * @param tau migration threshold in KVPR units, finite and {@code >= 0}
   * @throws IllegalArgumentException if {@code tau} is negative or not finite
   */
  public KvprPlacement(double tau) {
    this(tau, 0);
  }

  private KvprPlacement(double tau, double relativeThreshold) {
    this(tau, relativeThreshold, Map.of());
  }

  private KvprPlacement(double tau, double relativeThreshold, Map<String, TpotColocation.Member> tpotMembers) {
    if (!(tau >= 0) || Double.isInfinite(tau)) throw new IllegalArgumentException("tau must be finite and >= 0, got " + tau);
    if (!(relativeThreshold >= 0) || Double.isInfinite(relativeThreshold)) {
      throw new IllegalArgumentException("relativeThreshold must be finite and >= 0, got " + relativeThreshold);
    }
    this.tau = tau;
    this.relativeThreshold = relativeThreshold;
    this.tpotMembers = Map.copyOf(tpotMembers);
  }

  /**
   * This policy with the TPOT co-location guard ({@link TpotColocation}): a model goes only to GPUs
   * where every model placed there in this round keeps its TPOT SLO beside it, lowest KVPR among
   * those; if there are too few such GPUs, KVPR alone decides. Models without an entry in {@code
   * members} are not guarded (nor counted on their GPU).
   *
   * @param members model id -> its decode step, prefill chunk and TPOT SLO
   */
  public KvprPlacement withTpotGuard(Map<String, TpotColocation.Member> members) {
    return new KvprPlacement(tau, relativeThreshold, members);
  }

  /**
   * This policy with an additional relative migration threshold: a model also stays unless its
   * current score exceeds {@code (1 + relativeThreshold)} times the best (e.g. 0.5: 50% worse).
   *
   * @throws IllegalArgumentException if negative or not finite
   */
  public KvprPlacement withRelativeThreshold(double relativeThreshold) {
    return new KvprPlacement(tau, relativeThreshold, tpotMembers);
  }

  /** The relative migration threshold (0 unless set by {@link #withRelativeThreshold}). */
  public double relativeThreshold() {
    return relativeThreshold;
  }

  /** With {@link #DEFAULT_TAU}. */
  public KvprPlacement() {
    this(DEFAULT_TAU);
  }

  /** The migration threshold. */
  public double tau() {
    return tau;
  }

  @Override
  public Placement place(List<ModelDemand> models, List<GpuCapacity> gpus) {
    GpuLedger.checkUniqueModels(models);
    GpuLedger ledger = new GpuLedger(gpus);
    List<ModelDemand> order = new ArrayList<>(models);
    order.sort(Comparator.comparingDouble(ModelDemand::kvDemand).reversed().thenComparing(ModelDemand::modelId));

    Map<String, List<Integer>> assignment = new TreeMap<>();
    List<Move> moves = new ArrayList<>();
    List<String> unplaced = new ArrayList<>();
    int kept = 0;
    Map<Integer, List<TpotColocation.Member>> guarded = new HashMap<>(); // members placed so far, by GPU
    for (ModelDemand m : order) {
      long w = m.shardWeightBytes();
      double d = m.shardKvDemand();
      List<Integer> candidates = new ArrayList<>();
      for (int g : ledger.gpuIds()) if (ledger.fits(g, w)) candidates.add(g);
      if (candidates.size() < m.tensorParallelDegree()) {
        unplaced.add(m.modelId());
        continue;
      }
      TpotColocation.Member member = tpotMembers.get(m.modelId());
      if (member != null) {
        List<Integer> fitting = new ArrayList<>();
        for (int g : candidates) if (TpotColocation.admits(guarded.getOrDefault(g, List.of()), member)) fitting.add(g);
        if (fitting.size() >= m.tensorParallelDegree()) candidates = fitting;
      }
      candidates.sort(Comparator.<Integer>comparingDouble(g -> ledger.kvprWith(g, w, d))
          .thenComparing(g -> -ledger.freeBytes(g)).thenComparing(g -> g)); // ties (e.g. idle models): most free memory
      List<Integer> best = GpuLedger.sorted(candidates.subList(0, m.tensorParallelDegree()));
      double bestScore = score(ledger, best, w, d);

      List<Integer> chosen = best;
      String reason;
      List<Integer> current = m.currentGpus();
      if (current.isEmpty()) {
        reason = String.format(Locale.ROOT, "place on lowest KVPR %s (%.6g)", best, bestScore);
      } else if (!candidates.containsAll(current)) {
        reason = String.format(Locale.ROOT, "current GPUs %s gone or full; move to lowest KVPR %s (%.6g)", current, best, bestScore);
      } else {
        double currentScore = score(ledger, current, w, d);
        if (currentScore - bestScore > tau && currentScore > (1 + relativeThreshold) * bestScore) {
          reason = String.format(Locale.ROOT, "KVPR on current %s %.6g exceeds best %s %.6g by more than tau %.6g (relative %.3g)",
              current, currentScore, best, bestScore, tau, relativeThreshold);
        } else {
          chosen = current; // shard i stays on current.get(i)
          reason = null;
        }
      }
      ledger.add(chosen, w, d);
      if (member != null) for (int g : chosen) guarded.computeIfAbsent(g, k -> new ArrayList<>()).add(member);
      assignment.put(m.modelId(), chosen);
      if (reason == null) {
        kept++;
      } else {
        moves.add(new Move(m.modelId(), current, chosen, reason));
      }
    }
    unplaced.sort(null);
    long migrations = moves.stream().filter(Move::isMigration).count();
    String summary = String.format(Locale.ROOT, "kvpr placement (tau %.6g): %d kept, %d migrated, %d placed, %d unplaced",
        tau, kept, migrations, moves.size() - migrations, unplaced.size());
    return new Placement(assignment, moves, unplaced, ledger.kvprByGpu(), summary);
  }

  /**
   * KVPR of every GPU with the models where they are now ({@link ModelDemand#currentGpus()};
   * unplaced models are left out): sum of KV demand over free memory after weights, as {@link
   * #place} computes it. Used to rank proposed migrations by how hot their source GPU is.
   *
   * @return KVPR by GPU id, in 1/s^2; every GPU of {@code gpus} is present
   */
  public static Map<Integer, Double> currentKvpr(List<ModelDemand> models, List<GpuCapacity> gpus) {
    GpuLedger ledger = new GpuLedger(gpus);
    for (ModelDemand m : models) {
      if (m.isPlaced() && m.currentGpus().stream().allMatch(ledger::contains)) ledger.add(m.currentGpus(), m.shardWeightBytes(), m.shardKvDemand());
    }
    return ledger.kvprByGpu();
  }

  private final Map<String, TpotColocation.Member> tpotMembers;

  private static double score(GpuLedger ledger, List<Integer> set, long w, double d) {
    double s = 0;
    for (int g : set) s = Math.max(s, ledger.kvprWith(g, w, d));
    return s;
  }
}
