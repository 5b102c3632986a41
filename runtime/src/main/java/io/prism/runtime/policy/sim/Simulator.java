package io.prism.runtime.policy.sim;

import io.prism.runtime.policy.GpuCapacity;
import io.prism.runtime.policy.IdleEvictionPolicy;
import io.prism.runtime.policy.KvprPlacement;
import io.prism.runtime.policy.MigrationBudget;
import io.prism.runtime.policy.ModelActivity;
import io.prism.runtime.policy.ModelDemand;
import io.prism.runtime.policy.ModelMemory;
import io.prism.runtime.policy.Move;
import io.prism.runtime.policy.Placement;
import io.prism.runtime.policy.RateEstimator;
import io.prism.runtime.policy.ReclaimAction;
import io.prism.runtime.policy.ReclaimPlan;
import io.prism.runtime.policy.ReclaimPolicy;
import io.prism.runtime.policy.Slo;
import io.prism.runtime.policy.TpotColocation;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * Discrete-event simulation of a {@link Workload} served by {@code G} identical GPUs under a
 * {@link SimPolicy}. Deterministic: no clock, no threads, no randomness (the workload carries it).
 *
 * <p>Per GPU, the models on it share one execution stream: a step is either a prefill chunk (up to
 * 512 prompt tokens of one model's admitted requests; a longer prompt takes several chunks) or a
 * decode round (one decode step of every model with running sequences, their times added); when
 * both are pending they alternate. Costs come from {@link GpuProfile}. KV is accounted
 * in 16-token blocks; a request is admitted to prefill only if the KV of its whole prompt fits with a 1% watermark left; a decode
 * round that cannot grow preempts (recompute) per the policy. Models' weights and KV share the GPU
 * budget; the ledger is checked against the instances after every step ({@link SimGpu#checkInvariants}).
 *
 * <p>Prism's control loops: under memory pressure, {@link ReclaimPolicy} (evict models idle past
 * the threshold, then preempt by slack); with eager eviction also every second
 * ({@link IdleEvictionPolicy}); activation of an evicted or unplaced model on its first request, on the GPU {@link KvprPlacement} picks among
 * those where {@link ReclaimPolicy} finds room for the weights (retried every 50 ms until it fits);
 * relocation every {@code placementInterval} with {@link RateEstimator} rates (a migrating model
 * serves on the source until the target is ready, then the source drains).
 *
 * <p>Not thread-safe; one {@link #run} per instance.
 */
public final class Simulator {
  static final int BLOCK_TOKENS = 16;
  /** Chunked prefill: prompt tokens per prefill step. */
  static final int PREFILL_CHUNK_TOKENS = 512;
  static final int MAX_DECODE_BATCH = 256;
  static final long RECLAIM_PAGE_BYTES = 2L << 20;
  private static final long SECOND = 1_000_000_000L;
  private static final long EVICTION_TICK_NANOS = SECOND;
  private static final long ACTIVATION_RETRY_NANOS = 50_000_000L;
  /** Requests still running this long after the last arrival count as missed. */
  static final long DRAIN_NANOS = 120 * SECOND;

  private record Event(long timeNanos, long seq, Runnable action) {}

  final SimPolicy policy;
  final GpuProfile gpu;
  private final Workload workload;
  final List<SimGpu> gpus = new ArrayList<>();
  final Map<String, SimModelState> models = new LinkedHashMap<>();
  private final List<SimRequest> requests = new ArrayList<>();
  private final PriorityQueue<Event> events = new PriorityQueue<>(Comparator.comparingLong(Event::timeNanos).thenComparingLong(Event::seq));
  private long seq;
  long now;
  private int outstanding;
  private final List<SimModelState> awaiting = new ArrayList<>();
  private boolean retryScheduled;
  final RateEstimator rates = new RateEstimator();
  private final IdleEvictionPolicy idlePolicy;
  final ReclaimPolicy reclaimPolicy;
  private final ReclaimPolicy activationPolicy;
  final SimCounters counters = new SimCounters();
  final SimulatedEngine steps;
  final MigrationBudget migrationBudget;
  private final SimReplicas replicas = new SimReplicas(this);
  /** Migrations started by relocation and not yet serving on their target, by model id. */
  private final Map<String, Move> migrating = new HashMap<>();

  private Simulator(Workload workload, Map<String, Slo> slos, SimPolicy policy, GpuProfile gpu, int numGpus) {
    if (numGpus <= 0) throw new IllegalArgumentException("numGpus must be > 0, got " + numGpus);
    this.workload = workload;
    this.policy = policy;
    this.gpu = gpu;
    this.idlePolicy = new IdleEvictionPolicy(policy.idleThreshold());
    this.reclaimPolicy = new ReclaimPolicy(policy.idleThreshold());
    // one-model-per-GPU: a waiting model takes the GPU as soon as the resident one is quiet
    // (idle 1 ns: nothing queued or running; prism.gpu.swap-idle-after = 1ms in the real baselines); the keep-alive is the eager eviction
    this.activationPolicy = policy.maxResidentModels() > 0 ? new ReclaimPolicy(Duration.ofNanos(1), policy.maxResidentModels()) : reclaimPolicy;
    for (int i = 0; i < numGpus; i++) gpus.add(new SimGpu(i, gpu.memoryBudgetBytes(), policy.maxResidentModels()));
    for (Workload.SimModel m : workload.models()) {
      Slo slo = slos.get(m.modelId());
      if (slo == null) throw new IllegalArgumentException("no SLO for model " + m.modelId());
      models.put(m.modelId(), new SimModelState(m, slo));
    }
    this.steps = new SimulatedEngine(this);
    this.migrationBudget = new MigrationBudget(policy.migrationLimits());
  }

  /**
   * Simulates {@code workload} on {@code numGpus} GPUs of kind {@code gpu} under {@code policy}.
   *
   * @param slos SLO of every model of the workload
   * @throws IllegalArgumentException if a model has no SLO or {@code numGpus <= 0}
   */
  public static SimResult run(Workload workload, Map<String, Slo> slos, SimPolicy policy, GpuProfile gpu, int numGpus) {
    return new Simulator(workload, slos, policy, gpu, numGpus).run();
  }

  private SimResult run() {
    initialPlacement();
    if (policy.eagerEviction()) schedule(EVICTION_TICK_NANOS, this::evictionTick);
    if (policy.relocation()) schedule(policy.placementInterval().toNanos(), this::relocationTick);
    if (policy.maxReplicas() > 1) schedule(SimReplicas.CHECK_INTERVAL_NANOS, replicas::check);
    List<Workload.Arrival> arrivals = workload.arrivals();
    int next = 0;
    long endNanos = workload.durationNanos() + DRAIN_NANOS;
    while (true) {
      long arrivalAt = next < arrivals.size() ? arrivals.get(next).arrivalNanos() : Long.MAX_VALUE;
      Event e = events.peek();
      long eventAt = e == null ? Long.MAX_VALUE : e.timeNanos();
      if (next >= arrivals.size() && outstanding == 0) break;
      long t = Math.min(arrivalAt, eventAt);
      if (t == Long.MAX_VALUE || t > endNanos) break;
      now = t;
      if (arrivalAt <= eventAt) {
        onArrival(arrivals.get(next++));
      } else {
        events.poll().action().run();
      }
    }
    for (SimGpu g : gpus) counters.peakResidentModels = Math.max(counters.peakResidentModels, g.peakInstances);
    return SimResult.of(policy.name(), gpus.size(), models.values(), requests, workload.durationNanos(), counters);
  }

  void schedule(long atNanos, Runnable action) {
    events.add(new Event(atNanos, seq++, action));
  }

  // ---- placement at start: the same for every policy ----

  private void initialPlacement() {
    List<ModelDemand> demands = new ArrayList<>();
    for (SimModelState m : models.values()) {
      demands.add(ModelDemand.of(m.id(), m.spec.meanTokensPerSecond(), m.spec.profile().kvBytesPerToken(), m.slo.tpot(),
          m.spec.profile().weightBytes(), -1));
    }
    List<GpuCapacity> caps = gpus.stream().map(g -> new GpuCapacity(g.id, g.budgetBytes)).toList();
    Placement p = guarded(new KvprPlacement(0)).place(demands, caps);
    Map<Integer, Integer> residents = new HashMap<>();
    p.assignment().forEach((id, gs) -> {
      // one-model-per-GPU systems start with the first model placed on each GPU (the busiest: KVPR
      // places by pressure, descending); the others are activated on demand
      if (policy.maxResidentModels() > 0 && residents.merge(gs.get(0), 1, Integer::sum) > policy.maxResidentModels()) return;
      SimInstance inst = new SimInstance(models.get(id), gpus.get(gs.get(0)));
      inst.ready = true;
      inst.gpu.instances.add(inst);
      inst.gpu.weightBytes += inst.weightBytes();
      inst.model.serving = inst;
    });
    for (SimGpu g : gpus) {
      if (g.instances.isEmpty()) continue;
      long share = (g.budgetBytes - g.weightBytes) / g.instances.size();
      if (!policy.elasticKv()) for (SimInstance i : g.instances) i.quotaBytes = share;
    }
  }

  // ---- requests ----

  private void onArrival(Workload.Arrival a) {
    SimModelState m = models.get(a.modelId());
    SimRequest r = new SimRequest(a, m);
    requests.add(r);
    outstanding++;
    m.lastActivityNanos = now;
    if (m.serving == null && m.activating == null && !policy.idleEviction()) {
      reject(r); // never placed, and this system cannot time-share
      return;
    }
    m.queue.addLast(r);
    if (m.serving != null) {
      for (SimInstance i : m.servingInstances()) steps.kick(i.gpu);
    } else if (m.activating == null) {
      requestActivation(m);
    }
  }

  void reject(SimRequest r) {
    r.rejected = true;
    r.finishNanos = now;
    outstanding--;
    counters.rejected++;
  }

  void complete(SimRequest r, SimInstance inst) {
    freeKv(r, inst);
    inst.running.remove(r);
    r.instance = null;
    r.finishNanos = now;
    outstanding--;
    releaseIfDrained(inst);
  }

  void freeKv(SimRequest r, SimInstance inst) {
    inst.kvBytes -= r.kvBytes;
    inst.gpu.kvBytes -= r.kvBytes;
    r.kvBytes = 0;
    r.contextTokens = 0;
  }

  void releaseIfDrained(SimInstance inst) {
    if (inst.draining && !inst.busy()) removeInstance(inst);
  }

  private void removeInstance(SimInstance inst) {
    if (inst.kvBytes != 0) throw new IllegalStateException("removing " + inst.model.id() + " with " + inst.kvBytes + " KV bytes held");
    inst.gpu.instances.remove(inst);
    inst.gpu.weightBytes -= inst.weightBytes();
    inst.model.replicas.remove(inst);
    if (inst.model.serving == inst) inst.model.serving = inst.model.replicas.isEmpty() ? null : inst.model.replicas.remove(0);
  }

  // ---- time sharing: idle eviction and activation ----

  private void evictionTick() {
    for (SimGpu g : gpus) {
      List<ModelActivity> activity = new ArrayList<>();
      Map<String, SimInstance> byId = new HashMap<>();
      for (SimInstance i : g.instances) {
        if (!i.serving()) continue;
        activity.add(new ModelActivity(i.model.id(), true, i.model.lastActivityNanos,
            i.model.queue.size() + i.prefilling.size() + i.running.size()));
        byId.put(i.model.id(), i);
      }
      for (String id : idlePolicy.modelsToEvict(activity, now)) {
        removeInstance(byId.get(id));
        counters.evictions++;
      }
    }
    retryActivations();
    schedule(now + EVICTION_TICK_NANOS, this::evictionTick);
  }

  private void requestActivation(SimModelState m) {
    if (tryActivate(m) || m.awaitingActivation) return;
    m.awaitingActivation = true;
    awaiting.add(m);
    scheduleRetry();
  }

  private void scheduleRetry() {
    if (retryScheduled || awaiting.isEmpty()) return;
    retryScheduled = true;
    schedule(now + ACTIVATION_RETRY_NANOS, () -> {
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
    if (policy.requestGroups()) closeGroups();
  }

  /**
   * QLM's request groups, earliest deadline first: for each model waiting to be swapped in (oldest
   * TTFT deadline first), the GPU whose resident models' next waiting request has the latest
   * deadline (none waiting: latest of all) closes its current group (its models admit no new
   * prefill; what they admitted finishes), if the waiting model's deadline is the earlier one. So
   * the resident model becomes quiet and is swapped out. A GPU closes for one waiting model at most.
   */
  private void closeGroups() {
    for (SimGpu g : gpus) for (SimInstance i : g.instances) i.groupClosed = false;
    List<SimModelState> waiting = new ArrayList<>(awaiting);
    waiting.sort(Comparator.comparingLong(SimModelState::headDeadlineNanos).thenComparing(SimModelState::id));
    java.util.Set<SimGpu> closed = new java.util.HashSet<>();
    for (SimModelState m : waiting) {
      SimGpu best = null;
      long bestDeadline = Long.MIN_VALUE;
      for (SimGpu g : gpus) {
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

  /** Room for the weights, with the watermark left for KV. */
  long roomNeeded(SimModelState m) {
    return m.spec.profile().weightBytes() + gpu.memoryBudgetBytes() / 100;
  }

  private boolean tryActivate(SimModelState m) {
    long need = roomNeeded(m);
    Map<Integer, List<ReclaimAction>> plans = new LinkedHashMap<>();
    int limit = policy.maxResidentModels();
    for (SimGpu g : gpus) {
      long free = g.freeBytes();
      // with a residency limit, an activating or draining instance holds the GPU until it serves or leaves
      if (limit > 0 && g.instances.stream().anyMatch(i -> !i.serving())) continue;
      if (free >= need && (limit == 0 || g.instances.size() < limit)) {
        plans.put(g.id, List.of());
        continue;
      }
      int freePages = (int) Math.max(0, free / RECLAIM_PAGE_BYTES);
      int pagesNeeded = (int) ((need + RECLAIM_PAGE_BYTES - 1) / RECLAIM_PAGE_BYTES) - freePages;
      ReclaimPlan plan = activationPolicy.plan(new ReclaimPolicy.Requester(m.id(), m.slo, Math.max(1, pagesNeeded), false, true),
          new ReclaimPolicy.PoolState(freePages, 0), memories(g, RECLAIM_PAGE_BYTES));
      if (plan instanceof ReclaimPlan.Granted granted) plans.put(g.id, granted.actions());
    }
    if (plans.isEmpty()) return false;
    if (policy.tpotGuard()) { // where every model keeps its TPOT beside the others, if there is such a GPU
      Map<Integer, List<ReclaimAction>> fitting = new LinkedHashMap<>();
      plans.forEach((id, actions) -> {
        if (tpotFits(gpus.get(id), m)) fitting.put(id, actions);
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
      SimGpu g = gpus.get(entry.getKey());
      long pinned = 0; // weights the policy cannot move: activating or draining instances
      for (SimInstance i : g.instances) {
        boolean evicted = entry.getValue().stream().anyMatch(a -> a instanceof ReclaimAction.EvictWeights e && e.modelId().equals(i.model.id()));
        if (evicted) continue;
        if (i.serving()) demands.add(replicas.demandOf(i));
        else pinned += i.weightBytes();
      }
      caps.add(new GpuCapacity(g.id, Math.max(1, g.budgetBytes - pinned)));
    }
    demands.add(demand(m, -1));
    Placement p = new KvprPlacement(Double.MAX_VALUE).place(demands, caps);
    List<Integer> target = p.assignment().get(m.id());
    if (target == null) return false;
    SimGpu g = gpus.get(target.get(0));
    for (ReclaimAction a : plans.get(g.id)) {
      if (a instanceof ReclaimAction.EvictWeights e) evict(g, e.modelId());
    }
    if (g.freeBytes() < need) return false; // the plan's page rounding was optimistic; retry later
    startActivation(m, g);
    return true;
  }

  /**
   * The GPU's models as {@link ReclaimPolicy} sees them, in pages of {@code unitBytes}: held pages
   * rounded up, each running sequence's pages rounded down, idle time only for a model with nothing
   * queued or admitted.
   */
  List<ModelMemory> memories(SimGpu g, long unitBytes) {
    List<ModelMemory> out = new ArrayList<>();
    for (SimInstance i : g.instances) {
      if (!i.serving() && i.running.isEmpty()) continue;
      SimModelState m = i.model;
      // a model whose request group is closed (QLM) is quiet once its admitted requests are done:
      // its queued ones wait for its next turn
      boolean quiet = (m.queue.isEmpty() || i.groupClosed) && !i.busy();
      List<ModelMemory.RunningSequence> running = new ArrayList<>();
      for (SimRequest r : i.running) {
        long slack = io.prism.runtime.policy.DecodePreemptionPolicy.slackNanos(r.firstTokenNanos, r.generated - 1, m.slo.tpot(), now);
        running.add(new ModelMemory.RunningSequence(r.arrival.requestId(), (int) (r.kvBytes / unitBytes), slack));
      }
      // A draining instance shares its model's id with the serving one: report it under a suffixed id.
      String id = i.serving() ? m.id() : m.id() + "@draining";
      out.add(new ModelMemory(id, m.slo, i.serving(), (int) ((i.kvBytes + unitBytes - 1) / unitBytes), 0, 0, 0,
          quiet && i.serving() ? (i.groupClosed ? Long.MAX_VALUE / 4 : now - m.lastActivityNanos) : 0, (int) ((i.weightBytes() + unitBytes - 1) / unitBytes), running));
    }
    return out;
  }

  /** Evicts the instance of {@code modelId} on {@code g} (a {@link ReclaimAction.EvictWeights} step). */
  void evict(SimGpu g, String modelId) {
    SimInstance victim = g.instances.stream().filter(i -> i.serving() && i.model.id().equals(modelId)).findFirst()
        .orElseThrow(() -> new IllegalStateException("no evictable instance of " + modelId + " on GPU " + g.id));
    if (victim.busy() || (!victim.model.queue.isEmpty() && !victim.groupClosed)) throw new IllegalStateException("evicting busy model " + modelId);
    removeInstance(victim);
    counters.evictions++;
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
   * chunk at {@link #PREFILL_CHUNK_TOKENS} tokens. Always true without the guard.
   */
  private boolean tpotFits(SimGpu g, SimModelState m) {
    if (!policy.tpotGuard()) return true;
    List<TpotColocation.Member> resident = new ArrayList<>();
    for (SimInstance i : g.instances) if (i.model != m && (i.serving() || i.model.activating == i)) resident.add(member(i.model));
    return TpotColocation.admits(resident, member(m));
  }

  /** {@code p} with the TPOT co-location guard over every model when the policy has it. */
  private KvprPlacement guarded(KvprPlacement p) {
    if (!policy.tpotGuard()) return p;
    Map<String, TpotColocation.Member> members = new HashMap<>();
    for (SimModelState m : models.values()) members.put(m.id(), member(m));
    return p.withTpotGuard(members);
  }

  private TpotColocation.Member member(SimModelState m) {
    long context = 0;
    if (m.serving != null) for (SimRequest r : m.serving.running) context += r.contextTokens;
    ModelProfile p = m.spec.profile();
    return new TpotColocation.Member(m.id(), m.slo.tpot().toNanos(), gpu.decodeStepNanos(p, context), gpu.prefillNanos(p, PREFILL_CHUNK_TOKENS));
  }

  ModelDemand demand(SimModelState m, int gpuId) {
    return ModelDemand.of(m.id(), rates.tokensPerSecond(m.id(), now), m.spec.profile().kvBytesPerToken(), m.slo.tpot(),
        m.spec.profile().weightBytes(), gpuId);
  }

  private void startActivation(SimModelState m, SimGpu g) {
    SimInstance inst = new SimInstance(m, g);
    g.instances.add(inst);
    g.weightBytes += inst.weightBytes();
    m.activating = inst;
    counters.activations++;
    g.checkInvariants();
    schedule(now + gpu.activationNanos(m.spec.profile()) + policy.swapOverhead().toNanos(), () -> onReady(inst));
  }

  private void onReady(SimInstance inst) {
    SimModelState m = inst.model;
    inst.ready = true;
    m.activating = null;
    SimInstance old = m.serving;
    m.serving = inst;
    Move mv = migrating.remove(m.id());
    if (mv != null) migrationBudget.finished(mv);
    if (old != null) {
      old.draining = true;
      counters.migrations++;
      releaseIfDrained(old);
    }
    steps.kick(inst.gpu);
  }

  // ---- relocation ----

  private void relocationTick() {
    List<ModelDemand> demands = new ArrayList<>();
    List<GpuCapacity> caps = new ArrayList<>();
    for (SimGpu g : gpus) {
      long pinned = 0;
      for (SimInstance i : g.instances) {
        if (i.serving() && i.model.activating == null && i.model.addingReplica == null) demands.add(replicas.demandOf(i));
        else pinned += i.weightBytes();
      }
      caps.add(new GpuCapacity(g.id, Math.max(1, g.budgetBytes - pinned)));
    }
    Placement p = guarded(new KvprPlacement(policy.tau()).withRelativeThreshold(policy.relativeTau())).place(demands, caps);
    for (Move mv : migrationBudget.admitByReduction(replicas.migratable(p.migrations()), now, demands, caps)) {
      SimModelState m = models.get(mv.modelId());
      SimGpu target = gpus.get(mv.toGpus().get(0));
      if (target.freeBytes() >= roomNeeded(m) && tpotFits(target, m)) {
        migrationBudget.started(mv, now);
        counters.migrationStartNanos.add(now);
        migrating.put(m.id(), mv);
        startActivation(m, target);
      }
    }
    schedule(now + policy.placementInterval().toNanos(), this::relocationTick);
  }
}
