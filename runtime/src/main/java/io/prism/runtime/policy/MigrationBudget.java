package io.prism.runtime.policy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Bounds the churn of placement rounds: of the migrations a round of {@link KvprPlacement}
 * proposes, admits only those whose model is out of its cooldown and whose source and target GPUs
 * are under their budget of concurrent migrations, at most {@link Limits#maxPerRound()} per round.
 *
 * <p>The paper's Algorithm 1 bounds churn only by the migration threshold {@code tau}; with rates
 * that move as bursts do, that alone migrates the same models back and forth (in the simulator on
 * 58 ServeGen models, up to ~180 migrations in 10 minutes). A cooldown per model (no model moves
 * twice within it) and a budget per GPU (a GPU takes part in at most so many migrations at once, so
 * it never loads several models while serving) bound it to a few moves per model per hour.
 *
 * <p>Proposed moves are taken in the order given (KVPR placement orders them by KV demand, largest
 * first); a refused move is simply not made this round, and the next round proposes it again if it
 * still pays. Moves that place an unplaced model (no source GPU) are not migrations: they pass.
 *
 * <p>Not thread-safe: one owner (the placement actor, or the simulator).
 */
public final class MigrationBudget {
  /**
   * @param cooldown minimum time between the starts of two migrations of one model
   * @param maxConcurrentPerGpu migrations a GPU may take part in at once, as source or target ({@code >= 1})
   * @param maxPerRound migrations one round may start ({@code >= 1})
   * @throws IllegalArgumentException naming the limit out of range (negative cooldown, a bound below 1)
   */
  public record Limits(Duration cooldown, int maxConcurrentPerGpu, int maxPerRound) {
    /** No bounds beyond {@code tau}: the paper's Algorithm 1 as written. */
    public static final Limits UNBOUNDED = new Limits(Duration.ZERO, Integer.MAX_VALUE, Integer.MAX_VALUE);

    /**
     * Prism's defaults: 2 minutes of cooldown, one migration per GPU at a time, 2 per round (with a
     * round a minute, at most 20 migrations per 10 minutes). In the simulator on 58 ServeGen models
     * (600 s), spent by {@link #admitByReduction}: 20 and 22 migrations on 16 and 24 GPUs (at most 18
     * and 20 in any 10 minutes) where tau alone made 73 and 185, with SLO attainment 89.35% vs 86.87%
     * (16 GPUs) and 93.57% vs 93.83% (24 GPUs). Hottest source first instead: 5 and 12 migrations,
     * 90.98% and 93.20%.
     */
    public static final Limits DEFAULT = new Limits(Duration.ofMinutes(2), 1, 2);

    public Limits {
      if (cooldown == null || cooldown.isNegative()) throw new IllegalArgumentException("cooldown must be >= 0, got " + cooldown);
      if (maxConcurrentPerGpu < 1) throw new IllegalArgumentException("maxConcurrentPerGpu must be >= 1, got " + maxConcurrentPerGpu);
      if (maxPerRound < 1) throw new IllegalArgumentException("maxPerRound must be >= 1, got " + maxPerRound);
    }
  }

  private final Limits limits;
  private final Map<String, Long> lastStartNanos = new HashMap<>();
  private final Map<Integer, Integer> inFlight = new HashMap<>();
  private int refused;

  /** A budget with {@code limits}. */
  public MigrationBudget(Limits limits) {
    this.limits = limits;
  }

  /** The limits. */
  public Limits limits() {
    return limits;
  }

  /**
   * The moves of {@code proposed} this budget allows now, in order, without recording them: call
   * {@link #started} for each one actually begun. Placements of unplaced models always pass; a
   * move whose source or target set names a GPU twice is taken as one use of each GPU.
   *
   * @param nowNanos monotonic time of the round
   */
  public List<Move> admit(List<Move> proposed, long nowNanos) {
    return admit(proposed, nowNanos, Map.of());
  }

  /**
   * As {@link #admit(List, long)}, taking migrations from the hottest source GPU first: by {@code
   * sourceKvpr} of their first source GPU, descending (GPUs missing from it count as 0; ties keep
   * the proposed order), so a tight budget goes to the moves that relieve the most pressure.
   *
   * @param sourceKvpr KVPR of each GPU as things stand ({@link KvprPlacement#currentKvpr})
   */
  public List<Move> admit(List<Move> proposed, long nowNanos, Map<Integer, Double> sourceKvpr) {
    List<Move> ordered = new ArrayList<>(proposed);
    ordered.sort(java.util.Comparator.comparingDouble((Move m) -> m.isMigration() ? -sourceKvpr.getOrDefault(m.fromGpus().get(0), 0.0) : 0));
    proposed = ordered;
    List<Move> out = new ArrayList<>();
    Map<Integer, Integer> planned = new HashMap<>(inFlight);
    int migrations = 0;
    for (Move m : proposed) {
      if (!m.isMigration()) {
        out.add(m);
        continue;
      }
      boolean ok = migrations < limits.maxPerRound() && !coolingDown(m.modelId(), nowNanos);
      for (int g : gpusOf(m)) ok &= planned.getOrDefault(g, 0) < limits.maxConcurrentPerGpu();
      if (!ok) {
        refused++;
        continue;
      }
      for (int g : gpusOf(m)) planned.merge(g, 1, Integer::sum);
      migrations++;
      out.add(m);
    }
    return out;
  }

  /**
   * As {@link #admit(List, long)}, spending the budget on the moves that lower KV pressure the most
   * (greedy): of the proposed migrations the budget still allows, take the one whose move alone, on
   * the placement as it stands after the moves already taken this round, lowers the larger KVPR of
   * its source and target GPUs the most ({@code max(kvpr_src, kvpr_dst)} before minus after); repeat
   * until the budget is spent or no allowed move lowers it. A move proposed as part of a whole new
   * plan (Algorithm 1 re-places every model) may pay only together with others: alone it may not,
   * and then it is not made. Placements of unplaced models pass, first. With {@link
   * Limits#UNBOUNDED} every proposed move passes, hottest source GPU first ({@link #admit(List, long, Map)}).
   *
   * @param demands every placed model's demand with its current GPUs (as the round saw them)
   * @param gpus the GPUs' capacities (as the round saw them)
   */
  public List<Move> admitByReduction(List<Move> proposed, long nowNanos, List<ModelDemand> demands, List<GpuCapacity> gpus) {
    if (limits.equals(Limits.UNBOUNDED)) { // nothing to spend: every move passes, as Algorithm 1 proposes it, hottest source first
      return admit(proposed, nowNanos, KvprPlacement.currentKvpr(demands, gpus));
    }
    List<Move> out = new ArrayList<>();
    Map<String, ModelDemand> byId = new HashMap<>();
    for (ModelDemand d : demands) byId.put(d.modelId(), d);
    GpuLedger ledger = new GpuLedger(gpus);
    for (ModelDemand m : demands) {
      if (m.isPlaced() && m.currentGpus().stream().allMatch(ledger::contains)) ledger.add(m.currentGpus(), m.shardWeightBytes(), m.shardKvDemand());
    }
    List<Move> candidates = new ArrayList<>();
    for (Move m : proposed) {
      if (!m.isMigration()) out.add(m);
      else if (byId.containsKey(m.modelId()) && !coolingDown(m.modelId(), nowNanos)) candidates.add(m);
      else refused++;
    }
    Map<Integer, Integer> planned = new HashMap<>(inFlight);
    int migrations = 0;
    while (migrations < limits.maxPerRound() && !candidates.isEmpty()) {
      Move best = null;
      double bestGain = 0;
      for (Move m : candidates) {
        boolean free = true;
        for (int g : gpusOf(m)) free &= planned.getOrDefault(g, 0) < limits.maxConcurrentPerGpu() && ledger.contains(g);
        if (!free) continue;
        double gain = reduction(ledger, m, byId.get(m.modelId()));
        if (gain > bestGain) {
          bestGain = gain;
          best = m;
        }
      }
      if (best == null) break;
      candidates.remove(best);
      ModelDemand d = byId.get(best.modelId());
      ledger.add(best.fromGpus(), -d.shardWeightBytes(), -d.shardKvDemand());
      ledger.add(best.toGpus(), d.shardWeightBytes(), d.shardKvDemand());
      for (int g : gpusOf(best)) planned.merge(g, 1, Integer::sum);
      migrations++;
      out.add(best);
    }
    refused += candidates.size();
    return out;
  }

  /** How much moving {@code d} as {@code m} lowers the larger KVPR of the GPUs involved (negative: raises it; -inf: does not fit). */
  private static double reduction(GpuLedger ledger, Move m, ModelDemand d) {
    List<Integer> involved = gpusOf(m);
    double before = 0;
    for (int g : involved) before = Math.max(before, ledger.kvpr(g));
    for (int g : m.toGpus()) if (!m.fromGpus().contains(g) && !ledger.fits(g, d.shardWeightBytes())) return Double.NEGATIVE_INFINITY;
    ledger.add(m.fromGpus(), -d.shardWeightBytes(), -d.shardKvDemand());
    ledger.add(m.toGpus(), d.shardWeightBytes(), d.shardKvDemand());
    double after = 0;
    for (int g : involved) after = Math.max(after, ledger.kvpr(g));
    ledger.add(m.toGpus(), -d.shardWeightBytes(), -d.shardKvDemand());
    ledger.add(m.fromGpus(), d.shardWeightBytes(), d.shardKvDemand());
    if (Double.isInfinite(before) && Double.isInfinite(after)) return 0;
    return before - after;
  }

  /** Whether {@code modelId} started a migration less than the cooldown before {@code nowNanos}. */
  public boolean coolingDown(String modelId, long nowNanos) {
    Long last = lastStartNanos.get(modelId);
    return last != null && nowNanos - last < limits.cooldown().toNanos();
  }

  /** Records that migration {@code m} began at {@code nowNanos}: its GPUs are busy until {@link #finished}. */
  public void started(Move m, long nowNanos) {
    if (!m.isMigration()) return;
    lastStartNanos.put(m.modelId(), nowNanos);
    for (int g : gpusOf(m)) inFlight.merge(g, 1, Integer::sum);
  }

  /** Records that migration {@code m} (begun with {@link #started}) ended, done or abandoned: its GPUs are free again. */
  public void finished(Move m) {
    if (!m.isMigration()) return;
    for (int g : gpusOf(m)) inFlight.computeIfPresent(g, (k, v) -> v <= 1 ? null : v - 1);
  }

  /** Migrations in flight on GPU {@code gpu}. */
  public int inFlight(int gpu) {
    return inFlight.getOrDefault(gpu, 0);
  }

  /** Proposed migrations refused so far (a move proposed in several rounds counts once per round). */
  public int refusedCount() {
    return refused;
  }

  private static List<Integer> gpusOf(Move m) {
    List<Integer> out = new ArrayList<>();
    for (int g : m.fromGpus()) if (!out.contains(g)) out.add(g);
    for (int g : m.toGpus()) if (!out.contains(g)) out.add(g);
    return out;
  }
}
