package io.prism.runtime.policy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Reclaim negotiation on one GPU when a model needs pages that the pool's free pages do not cover
 * (issue 5; Prism's memory ballooning, arXiv 2505.04021). Steps, cheapest and least harmful first:
 * <ol>
 *   <li>Residency limit (only with {@code maxResidentModels > 0} and a requester that asks for its
 *       weights): as many resident models as keep the GPU at {@code maxResidentModels} with the
 *       requester among them are evicted first ({@link ReclaimAction.EvictWeights}), whatever the
 *       pages say; they must be idle as in step 4 (longest idle first), else the plan is {@link
 *       ReclaimPlan.Insufficient}. This is one-model-per-GPU serving (ServerlessLLM, Fu et al., OSDI
 *       2024; QLM, Patke et al., SoCC 2024) with {@code maxResidentModels = 1}.
 *   <li>{@link ReclaimAction.TakeReserve}: the pool's pre-mapped reserve.
 *   <li>{@link ReclaimAction.ReclaimEmptyPages}: empty pages other models hold (most empty pages
 *       first, then model id). The requester's own empty pages are not listed: it uses them before asking.
 *   <li>{@link ReclaimAction.DropCachedBlocks}: pages held only by cached blocks of finished
 *       requests: the requester's own first, then other models loosest SLO first (then most such
 *       pages, then model id).
 *   <li>{@link ReclaimAction.EvictWeights}: evict to host memory a resident model other than the
 *       requester that has no running sequence and has been idle at least the idle threshold
 *       (default 45 s), longest idle first (then model id); yields its weight pages plus every KV page it
 *       still holds.
 *   <li>{@link ReclaimAction.PreemptDecode}, only if {@link Requester#mayPreempt()}: running
 *       sequences chosen by {@link DecodePreemptionPolicy} (most slack first; never from a model
 *       with a stricter SLO than the requester's: {@link Slo#isStricterThan}).
 * </ol>
 * For a requester that only admits waiting requests ({@code mayPreempt} false), steps 2 and 3
 * skip a model with a strictly stricter SLO that is running sequences (its empty pages and cached
 * blocks are what its own running or preempted sequences are about to use). Steps 2, 3 and 5 never take a model below its {@link ModelMemory#minPages()}; steps 1-4 take
 * nothing that in-flight work uses, so only step 5 is preemption. Each step takes only what is
 * still missing (eviction and preemption are all-or-nothing and may overshoot). If all allowed
 * steps together cannot cover the need the answer is {@link ReclaimPlan.Insufficient} and nothing
 * is to be done.
 *
 * <p>Pure and thread-safe.
 */
public final class ReclaimPolicy {
  /**
   * Who asks.
   *
   * @param modelId the requesting model
   * @param slo its SLO
   * @param pagesNeeded pages it needs, {@code > 0}
   * @param mayPreempt true iff running sequences may be preempted for it (a decode step that cannot
   *     grow; false for admitting a new prefill, which waits instead)
   * @param forWeights true iff the pages are for its weights (a load or an activation): the
   *     residency limit applies
   */
  public record Requester(String modelId, Slo slo, int pagesNeeded, boolean mayPreempt, boolean forWeights) {
    public Requester {
      if (pagesNeeded <= 0) throw new IllegalArgumentException("pagesNeeded of " + modelId + " must be > 0, got " + pagesNeeded);
      if (slo == null) throw new IllegalArgumentException("slo of " + modelId + " must not be null");
    }

    /** A requester of KV pages (not weights). */
    public Requester(String modelId, Slo slo, int pagesNeeded, boolean mayPreempt) {
      this(modelId, slo, pagesNeeded, mayPreempt, false);
    }
  }

  /**
   * The pool's unheld pages.
   *
   * @param freePages mappable pages nobody holds, outside the reserve, {@code >= 0}
   * @param reservePages pre-mapped reserve pages, {@code >= 0}
   */
  public record PoolState(int freePages, int reservePages) {
    public PoolState {
      if (freePages < 0 || reservePages < 0) {
        throw new IllegalArgumentException("freePages and reservePages must be >= 0, got " + freePages + ", " + reservePages);
      }
    }
  }

  private final long idleThresholdNanos;
  private final int maxResidentModels;

  /** @param idleThreshold idle time after which a model's weights may be evicted, {@code >= 0} */
  public ReclaimPolicy(Duration idleThreshold) {
    this(idleThreshold, 0);
  }

  /**
   * @param idleThreshold idle time after which a model's weights may be evicted, {@code >= 0}
   * @param maxResidentModels most models whose weights the GPU holds at once, {@code >= 0} (0: no limit)
   */
  public ReclaimPolicy(Duration idleThreshold, int maxResidentModels) {
    if (idleThreshold == null || idleThreshold.isNegative()) throw new IllegalArgumentException("idleThreshold must be >= 0, got " + idleThreshold);
    if (maxResidentModels < 0) throw new IllegalArgumentException("maxResidentModels must be >= 0, got " + maxResidentModels);
    this.idleThresholdNanos = idleThreshold.toNanos();
    this.maxResidentModels = maxResidentModels;
  }

  /** Most models whose weights the GPU holds at once (0: no limit). */
  public int maxResidentModels() {
    return maxResidentModels;
  }

  /** With {@link IdleEvictionPolicy#DEFAULT_IDLE_THRESHOLD}. */
  public ReclaimPolicy() {
    this(IdleEvictionPolicy.DEFAULT_IDLE_THRESHOLD);
  }

  /**
   * Plans how to give {@code requester} its pages.
   *
   * @param requester who needs pages
   * @param pool the pool's free and reserve pages
   * @param models every model on the GPU (the requester may be among them), unique ids
   * @throws IllegalArgumentException on duplicate model ids
   */
  public ReclaimPlan plan(Requester requester, PoolState pool, List<ModelMemory> models) {
    Set<String> ids = new HashSet<>();
    for (ModelMemory m : models) if (!ids.add(m.modelId())) throw new IllegalArgumentException("duplicate model id " + m.modelId());
    int fromFree = Math.min(pool.freePages(), requester.pagesNeeded());
    int missing = requester.pagesNeeded() - fromFree;
    List<ReclaimAction> actions = new ArrayList<>();
    Map<String, Integer> taken = new HashMap<>(); // pages already planned away from each model
    Set<String> evicted = new HashSet<>();
    int got = 0;

    // 0. residency limit: make the requester's weights the only ones beyond maxResidentModels - 1
    if (maxResidentModels > 0 && requester.forWeights()) {
      List<ModelMemory> residents = models.stream().filter(m -> !m.modelId().equals(requester.modelId()) && m.resident()).toList();
      int excess = residents.size() + 1 - maxResidentModels;
      if (excess > 0) {
        List<ModelMemory> quiet = new ArrayList<>(residents.stream().filter(m -> m.running().isEmpty() && m.idleNanos() >= idleThresholdNanos).toList());
        if (quiet.size() < excess) {
          return new ReclaimPlan.Insufficient(fromFree, String.format(Locale.ROOT,
              "%s needs its weights on a GPU that holds at most %d resident model(s); resident: %s, of which idle at least %d ms: %s",
              requester.modelId(), maxResidentModels, residents.stream().map(ModelMemory::modelId).toList(), idleThresholdNanos / 1_000_000,
              quiet.stream().map(ModelMemory::modelId).toList()));
        }
        quiet.sort(Comparator.comparingLong(ModelMemory::idleNanos).reversed().thenComparing(ModelMemory::modelId));
        for (ModelMemory m : quiet.subList(0, excess)) {
          int n = m.weightPages() + m.heldPages();
          actions.add(new ReclaimAction.EvictWeights(m.modelId(), n));
          taken.merge(m.modelId(), n, Integer::sum);
          evicted.add(m.modelId());
          got += n;
        }
      }
    }
    if (missing <= got) return new ReclaimPlan.Granted(fromFree, actions, got);

    int[] found = new int[5]; // pages reachable per step, for the shortage reason
    found[3] = got;

    // 1. reserve
    int reserve = pool.reservePages();
    found[0] = reserve;
    if (reserve > 0 && got < missing) {
      int n = Math.min(reserve, missing - got);
      actions.add(new ReclaimAction.TakeReserve(n));
      got += n;
    }

    // 2. empty pages of other models
    List<ModelMemory> withEmpty = new ArrayList<>(models.stream()
        .filter(m -> !m.modelId().equals(requester.modelId()) && !evicted.contains(m.modelId()) && m.emptyPages() > 0
            && !busyAndStricter(m, requester)).toList());
    withEmpty.sort(Comparator.comparingInt(ModelMemory::emptyPages).reversed().thenComparing(ModelMemory::modelId));
    for (ModelMemory m : withEmpty) {
      int n = Math.min(m.emptyPages(), headroom(m, taken));
      found[1] += n;
      if (got < missing && n > 0) {
        int use = Math.min(n, missing - got);
        actions.add(new ReclaimAction.ReclaimEmptyPages(m.modelId(), use));
        taken.merge(m.modelId(), use, Integer::sum);
        got += use;
      }
    }

    // 3. cached blocks: requester's own first, then loosest SLO first
    List<ModelMemory> withCache = new ArrayList<>(models.stream()
        .filter(m -> m.cachedBlockPages() > 0 && !evicted.contains(m.modelId())
            && (m.modelId().equals(requester.modelId()) || !busyAndStricter(m, requester))).toList());
    withCache.sort(Comparator.<ModelMemory>comparingInt(m -> m.modelId().equals(requester.modelId()) ? 0 : 1)
        .thenComparing((a, b) -> b.slo().compareStrictness(a.slo()))
        .thenComparing(Comparator.comparingInt(ModelMemory::cachedBlockPages).reversed())
        .thenComparing(ModelMemory::modelId));
    for (ModelMemory m : withCache) {
      int n = Math.min(m.cachedBlockPages(), headroom(m, taken));
      found[2] += n;
      if (got < missing && n > 0) {
        int use = Math.min(n, missing - got);
        actions.add(new ReclaimAction.DropCachedBlocks(m.modelId(), use));
        taken.merge(m.modelId(), use, Integer::sum);
        got += use;
      }
    }

    // 4. evict weights of idle models
    List<ModelMemory> idle = new ArrayList<>(models.stream()
        .filter(m -> !m.modelId().equals(requester.modelId()) && !evicted.contains(m.modelId()) && m.resident() && m.running().isEmpty()
            && m.idleNanos() >= idleThresholdNanos)
        .toList());
    idle.sort(Comparator.comparingLong(ModelMemory::idleNanos).reversed().thenComparing(ModelMemory::modelId));
    for (ModelMemory m : idle) {
      int n = m.weightPages() + m.heldPages() - taken.getOrDefault(m.modelId(), 0);
      found[3] += n;
      if (got < missing && n > 0) {
        actions.add(new ReclaimAction.EvictWeights(m.modelId(), n));
        taken.merge(m.modelId(), n, Integer::sum);
        evicted.add(m.modelId());
        got += n;
      }
    }

    // 5. decode preemption by slack, never from a stricter SLO
    if (requester.mayPreempt() && got < missing) {
      List<DecodePreemptionPolicy.Candidate> candidates = new ArrayList<>();
      Map<String, Integer> room = new HashMap<>();
      for (ModelMemory m : models) {
        if (evicted.contains(m.modelId())) continue;
        room.put(m.modelId(), headroom(m, taken));
        for (ModelMemory.RunningSequence s : m.running()) {
          candidates.add(new DecodePreemptionPolicy.Candidate(m.modelId(), m.slo(), s.sequenceId(), s.pages(), s.slackNanos()));
        }
      }
      DecodePreemptionPolicy.Choice choice = DecodePreemptionPolicy.choose(requester.slo(), candidates, missing - got, room);
      found[4] = choice.pagesFreed();
      for (DecodePreemptionPolicy.Candidate c : choice.victims()) {
        actions.add(new ReclaimAction.PreemptDecode(c.modelId(), c.sequenceId(), c.pages(), c.slackNanos()));
        got += c.pages();
      }
    }

    if (got >= missing) return new ReclaimPlan.Granted(fromFree, actions, got);
    int available = fromFree + found[0] + found[1] + found[2] + found[3] + found[4];
    return new ReclaimPlan.Insufficient(available, String.format(Locale.ROOT,
        "%s needs %d pages; reachable %d: free %d, reserve %d, empty pages %d, cached blocks %d, idle weights %d, preemptable %s",
        requester.modelId(), requester.pagesNeeded(), available, fromFree, found[0], found[1], found[2], found[3],
        requester.mayPreempt() ? Integer.toString(found[4]) : "not allowed"));
  }

  /**
   * Whether {@code m} is running sequences and has a strictly stricter SLO than a requester that
   * only wants to admit waiting requests: its empty pages and cached blocks are what its own
   * sequences (running, or preempted and waiting to be recomputed) are about to use, so a looser
   * model's new work does not take them.
   */
  private static boolean busyAndStricter(ModelMemory m, Requester requester) {
    return !requester.mayPreempt() && !m.running().isEmpty() && m.slo().isStricterThan(requester.slo());
  }

  /** Pages {@code m} can still give without going below its minimum. */
  private static int headroom(ModelMemory m, Map<String, Integer> taken) {
    return Math.max(0, m.heldPages() - m.minPages() - taken.getOrDefault(m.modelId(), 0));
  }
}
