package io.prism.runtime.policy.sim;

import io.prism.runtime.policy.GpuCapacity;
import io.prism.runtime.policy.IdleEvictionPolicy;
import io.prism.runtime.policy.KvprPlacement;
import io.prism.runtime.policy.ModelActivity;
import io.prism.runtime.policy.ModelDemand;
import io.prism.runtime.policy.Move;
import io.prism.runtime.policy.Placement;
import io.prism.runtime.policy.ReclaimAction;
import io.prism.runtime.policy.ReclaimPlan;
import io.prism.runtime.policy.ReclaimPolicy;
import io.prism.runtime.policy.TpotColocation;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The control loops of the {@link Simulator} that move models' weights between GPUs and the host:
 * eager idle eviction every second ({@link IdleEvictionPolicy}); activation of an evicted or
 * unplaced model on its first request, on the lowest-KVPR GPU ({@link KvprPlacement}, the paper's
 * Algorithm 1 over the GPUs where {@link ReclaimPolicy} finds room for the weights), retried every
 * 50 ms until it fits; QLM's request groups (which GPU gives its turn to a waiting model); and
 * relocation every {@code placementInterval} with {@link io.prism.runtime.policy.RateEstimator}
 * rates and the {@link io.prism.runtime.policy.MigrationBudget} (a migrating model serves on the
 * source until the target is ready, then the source drains). The simulator owns the clock, the
 * event queue, the GPUs and the models; this class owns only the models waiting for activation and
 * the migrations under way.
 *
 * <p>Deterministic: every choice iterates GPUs and models in a fixed order. Not thread-safe; confined
 * to the simulator's thread, like the {@link Simulator} it belongs to.
 */
final class SimControlLoops {
  private static final long EVICTION_TICK_NANOS = 1_000_000_000L;
  private static final long ACTIVATION_RETRY_NANOS = 50_000_000L;

  private final Simulator sim;
  private final IdleEvictionPolicy idlePolicy;
  private final ReclaimPolicy activationPolicy;
  /** Models with requests and no instance, waiting for room on some GPU, in the order they started waiting. */
  private final List<SimModelState> awaiting = new ArrayList<>();
  private boolean retryScheduled;
  /** Migrations started by relocation and not yet serving on their target, by model id. */
  private final Map<String, Move> migrating = new HashMap<>();

  SimControlLoops(Simulator sim) {
    this.sim = sim;
    this.idlePolicy = new IdleEvictionPolicy(sim.policy.idleThreshold());
    // one-model-per-GPU: a waiting model takes the GPU as soon as the resident one is quiet
    // (idle 1 ns: nothing queued or running; prism.gpu.swap-idle-after = 1ms in the real baselines); the keep-alive is the eager eviction
    this.activationPolicy = sim.policy.maxResidentModels() > 0 ? new ReclaimPolicy(Duration.ofNanos(1), sim.policy.maxResidentModels())
        : sim.reclaimPolicy;
  }

  /** Schedules the first tick of each periodic loop the policy has (eviction, then relocation). */
  void start() {
    if (sim.policy.eagerEviction()) sim.schedule(EVICTION_TICK_NANOS, this::evictionTick);
    if (sim.policy.relocation()) sim.schedule(sim.policy.placementInterval().toNanos(), this::relocationTick);
  }

  // ---- time sharing: idle eviction and activation ----

  private void evictionTick() {
    for (SimGpu g : sim.gpus) {
      List<ModelActivity> activity = new ArrayList<>();
      Map<String, SimInstance> byId = new HashMap<>();
      for (SimInstance i : g.instances) {
        if (!i.serving()) continue;
        activity.add(new ModelActivity(i.model.id(), true, i.model.lastActivityNanos,
            i.model.queue.size() + i.prefilling.size() + i.running.size()));
        byId.put(i.model.id(), i);
      }
      for (String id : idlePolicy.modelsToEvict(activity, sim.now)) {
        sim.removeInstance(byId.get(id));
        sim.counters.evictions++;
      }
    }
    retryActivations();
    sim.schedule(sim.now + EVICTION_TICK_NANOS, this::evictionTick);
  }

  /** Activates {@code m} (it has a request and no instance) now if some GPU has room, else when one has. */
  void requestActivation(SimModelState m) {
    if (tryActivate(m) || m.awaitingActivation) return;
    m.awaitingActivation = true;
    awaiting.add(m);
    scheduleRetry();
  }

  private void scheduleRetry() {
    if (retryScheduled || awaiting.isEmpty()) return;
    retryScheduled = true;
    sim.schedule(sim.now + ACTIVATION_RETRY_NANOS, () -> {
      retryScheduled = false;
      retryActivations();
      scheduleRetry();
    });
  }

  private void retryActivations() {
    for (SimModelState m : new ArrayList<>(awaiting)) {
      if (m.serving != null || m.activating != null || tryActivate(m)) {
        m.awaitingActivation = false;
        awaiting.remove(m);
      }
    }
    if (sim.policy.requestGroups()) closeGroups();
  }

  /**
   * QLM's request groups, earliest deadline first: for each model waiting to be swapped in (oldest
   * TTFT deadline first), the GPU whose resident models' next waiting request has the latest
   * deadline (none waiting: latest of all) closes its current group (its models admit no new
   * prefill; what they admitted finishes), if the waiting model's deadline is the earlier one. So
   * the resident model becomes quiet and is swapped out. A GPU closes for one waiting model at most.
   */
  private void closeGroups() {
    for (SimGpu g : sim.gpus) for (SimInstance i : g.instances) i.groupClosed = false;
    List<SimModelState> waiting = new ArrayList<>(awaiting);
    waiting.sort(Comparator.comparingLong(SimModelState::headDeadlineNanos).thenComparing(SimModelState::id));
    Set<SimGpu> closed = new HashSet<>();
    for (SimModelState m : waiting) {
      SimGpu best = null;
      long bestDeadline = Long.MIN_VALUE;
      for (SimGpu g : sim.gpus) {
        if (closed.contains(g) || g.instances.isEmpty()) continue;
        long head = Long.MAX_VALUE;
        for (SimInstance i : g.instances) head = Math.min(head, i.model.headDeadlineNanos());
        if (head > bestDeadline) {
          bestDeadline = head;
          best = g;
        }
      }
      if (best == null || m.headDeadlineNanos() >= bestDeadline) continue;
      closed.add(best);
      for (SimInstance i : best.instances) i.groupClosed = true;
    }
  }

  private boolean tryActivate(SimModelState m) {
    long need = sim.roomNeeded(m);
    Map<Integer, List<ReclaimAction>> plans = new LinkedHashMap<>();
    int limit = sim.policy.maxResidentModels();
    for (SimGpu g : sim.gpus) {
      long free = g.freeBytes();
      // with a residency limit, an activating or draining instance holds the GPU until it serves or leaves
      if (limit > 0 && g.instances.stream().anyMatch(i -> !i.serving())) continue;
      if (free >= need && (limit == 0 || g.instances.size() < limit)) {
        plans.put(g.id, List.of());
        continue;
      }
      int freePages = (int) Math.max(0, free / Simulator.RECLAIM_PAGE_BYTES);
      int pagesNeeded = (int) ((need + Simulator.RECLAIM_PAGE_BYTES - 1) / Simulator.RECLAIM_PAGE_BYTES) - freePages;
      ReclaimPlan plan = activationPolicy.plan(new ReclaimPolicy.Requester(m.id(), m.slo, Math.max(1, pagesNeeded), false, true),
          new ReclaimPolicy.PoolState(freePages, 0), sim.memories(g, Simulator.RECLAIM_PAGE_BYTES));
      if (plan instanceof ReclaimPlan.Granted granted) plans.put(g.id, granted.actions());
    }
    if (plans.isEmpty()) return false;
    if (sim.policy.tpotGuard()) { // where every model keeps its TPOT beside the others, if there is such a GPU
      Map<Integer, List<ReclaimAction>> fitting = new LinkedHashMap<>();
      plans.forEach((id, actions) -> {
        if (tpotFits(sim.gpus.get(id), m)) fitting.put(id, actions);
      });
      if (!fitting.isEmpty()) {
        plans.clear();
        plans.putAll(fitting);
      }
    }
    // Among GPUs with room, the lowest KVPR (models about to be evicted excluded).
    List<ModelDemand> demands = new ArrayList<>();
    List<GpuCapacity> caps = new ArrayList<>();
    for (var entry : plans.entrySet()) {
      SimGpu g = sim.gpus.get(entry.getKey());
      long pinned = 0; // weights the policy cannot move: activating or draining instances
      for (SimInstance i : g.instances) {
        boolean evicted = entry.getValue().stream().anyMatch(a -> a instanceof ReclaimAction.EvictWeights e && e.modelId().equals(i.model.id()));
        if (evicted) continue;
        if (i.serving()) demands.add(sim.replicas.demandOf(i));
        else pinned += i.weightBytes();
      }
      caps.add(new GpuCapacity(g.id, Math.max(1, g.budgetBytes - pinned)));
    }
    demands.add(sim.demand(m, -1));
    Placement p = new KvprPlacement(Double.MAX_VALUE).place(demands, caps);
    List<Integer> target = p.assignment().get(m.id());
    if (target == null) return false;
    SimGpu g = sim.gpus.get(target.get(0));
    for (ReclaimAction a : plans.get(g.id)) {
      if (a instanceof ReclaimAction.EvictWeights e) evict(g, e.modelId());
    }
    if (g.freeBytes() < need) return false; // the plan's page rounding was optimistic; retry later
    startActivation(m, g);
    return true;
  }

  /** Evicts the instance of {@code modelId} on {@code g} (a {@link ReclaimAction.EvictWeights} step). */
  void evict(SimGpu g, String modelId) {
    SimInstance victim = g.instances.stream().filter(i -> i.serving() && i.model.id().equals(modelId)).findFirst()
        .orElseThrow(() -> new IllegalStateException("no evictable instance of " + modelId + " on GPU " + g.id));
    if (victim.busy() || (!victim.model.queue.isEmpty() && !victim.groupClosed)) throw new IllegalStateException("evicting busy model " + modelId);
    sim.removeInstance(victim);
    sim.counters.evictions++;
    SimModelState m = victim.model;
    if (!m.queue.isEmpty() && !m.awaitingActivation) { // QLM: its next request group waits for its turn (not now: this GPU is being given away)
      m.awaitingActivation = true;
      awaiting.add(m);
      scheduleRetry();
    }
  }

  /**
   * With the policy's TPOT guard: whether {@code m} may serve on {@code g} beside the models serving
   * there ({@link TpotColocation}); each model's decode step at its running context now, its prefill
   * chunk at {@link Simulator#PREFILL_CHUNK_TOKENS} tokens. Always true without the guard.
   */
  private boolean tpotFits(SimGpu g, SimModelState m) {
    if (!sim.policy.tpotGuard()) return true;
    List<TpotColocation.Member> resident = new ArrayList<>();
    for (SimInstance i : g.instances) if (i.model != m && (i.serving() || i.model.activating == i)) resident.add(sim.member(i.model));
    return TpotColocation.admits(resident, sim.member(m));
  }

  private void startActivation(SimModelState m, SimGpu g) {
    SimInstance inst = new SimInstance(m, g);
    g.instances.add(inst);
    g.weightBytes += inst.weightBytes();
    m.activating = inst;
    sim.counters.activations++;
    g.checkInvariants();
    sim.schedule(sim.now + sim.gpu.activationNanos(m.spec.profile()) + sim.policy.swapOverhead().toNanos(), () -> onReady(inst));
  }

  private void onReady(SimInstance inst) {
    SimModelState m = inst.model;
    inst.ready = true;
    m.activating = null;
    SimInstance old = m.serving;
    m.serving = inst;
    Move mv = migrating.remove(m.id());
    if (mv != null) sim.migrationBudget.finished(mv);
    if (old != null) {
      old.draining = true;
      sim.counters.migrations++;
      sim.releaseIfDrained(old);
    }
    sim.steps.kick(inst.gpu);
  }

  // ---- relocation ----

  private void relocationTick() {
    List<ModelDemand> demands = new ArrayList<>();
    List<GpuCapacity> caps = new ArrayList<>();
    for (SimGpu g : sim.gpus) {
      long pinned = 0;
      for (SimInstance i : g.instances) {
        if (i.serving() && i.model.activating == null && i.model.addingReplica == null) demands.add(sim.replicas.demandOf(i));
        else pinned += i.weightBytes();
      }
      caps.add(new GpuCapacity(g.id, Math.max(1, g.budgetBytes - pinned)));
    }
    Placement p = sim.guarded(new KvprPlacement(sim.policy.tau()).withRelativeThreshold(sim.policy.relativeTau())).place(demands, caps);
    for (Move mv : sim.migrationBudget.admitByReduction(sim.replicas.migratable(p.migrations()), sim.now, demands, caps)) {
      SimModelState m = sim.models.get(mv.modelId());
      SimGpu target = sim.gpus.get(mv.toGpus().get(0));
      if (target.freeBytes() >= sim.roomNeeded(m) && tpotFits(target, m)) {
        sim.migrationBudget.started(mv, sim.now);
        sim.counters.migrationStartNanos.add(sim.now);
        migrating.put(m.id(), mv);
        startActivation(m, target);
      }
    }
    sim.schedule(sim.now + sim.policy.placementInterval().toNanos(), this::relocationTick);
  }
}
