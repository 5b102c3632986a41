package io.prism.runtime.policy.sim;

import io.prism.runtime.policy.GpuCapacity;
import io.prism.runtime.policy.KvprPlacement;
import io.prism.runtime.policy.MigrationBudget;
import io.prism.runtime.policy.ModelDemand;
import io.prism.runtime.policy.ModelMemory;
import io.prism.runtime.policy.Placement;
import io.prism.runtime.policy.RateEstimator;
import io.prism.runtime.policy.ReclaimPolicy;
import io.prism.runtime.policy.Slo;
import io.prism.runtime.policy.TpotColocation;
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
 * the threshold, then preempt by slack) in the engine loop ({@link SimulatedEngine}); with eager
 * eviction also every second, activation of an evicted or unplaced model on its first request, and
 * relocation every {@code placementInterval} with {@link RateEstimator} rates ({@link
 * SimControlLoops}); replicas ({@link SimReplicas}).
 *
 * <p>This class owns the clock, the event queue and its main loop, the placement at start, and the
 * request and instance accounting (arrival, rejection, completion, KV freed, instances removed).
 * Not thread-safe; one {@link #run} per instance.
 */
public final class Simulator {
  static final int BLOCK_TOKENS = 16;
  /** Chunked prefill: prompt tokens per prefill step. */
  static final int PREFILL_CHUNK_TOKENS = 512;
  static final int MAX_DECODE_BATCH = 256;
  static final long RECLAIM_PAGE_BYTES = 2L << 20;
  private static final long SECOND = 1_000_000_000L;
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
  final RateEstimator rates = new RateEstimator();
  final ReclaimPolicy reclaimPolicy;
  final SimCounters counters = new SimCounters();
  final SimulatedEngine steps;
  final MigrationBudget migrationBudget;
  final SimReplicas replicas = new SimReplicas(this);
  /** Eviction, activation, request groups and relocation. */
  final SimControlLoops control;

  private Simulator(Workload workload, Map<String, Slo> slos, SimPolicy policy, GpuProfile gpu, int numGpus) {
    if (numGpus <= 0) throw new IllegalArgumentException("numGpus must be > 0, got " + numGpus);
    this.workload = workload;
    this.policy = policy;
    this.gpu = gpu;
    this.reclaimPolicy = new ReclaimPolicy(policy.idleThreshold());
    for (int i = 0; i < numGpus; i++) gpus.add(new SimGpu(i, gpu.memoryBudgetBytes(), policy.maxResidentModels()));
    for (Workload.SimModel m : workload.models()) {
      Slo slo = slos.get(m.modelId());
      if (slo == null) throw new IllegalArgumentException("no SLO for model " + m.modelId());
      models.put(m.modelId(), new SimModelState(m, slo));
    }
    this.steps = new SimulatedEngine(this);
    this.migrationBudget = new MigrationBudget(policy.migrationLimits());
    this.control = new SimControlLoops(this);
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
    control.start();
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
      control.requestActivation(m);
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

  /** Takes {@code inst} off its GPU (its KV already freed); a replica left takes over serving. */
  void removeInstance(SimInstance inst) {
    if (inst.kvBytes != 0) throw new IllegalStateException("removing " + inst.model.id() + " with " + inst.kvBytes + " KV bytes held");
    inst.gpu.instances.remove(inst);
    inst.gpu.weightBytes -= inst.weightBytes();
    inst.model.replicas.remove(inst);
    if (inst.model.serving == inst) inst.model.serving = inst.model.replicas.isEmpty() ? null : inst.model.replicas.remove(0);
  }

  /** Room for the weights, with the watermark left for KV. */
  long roomNeeded(SimModelState m) {
    return m.spec.profile().weightBytes() + gpu.memoryBudgetBytes() / 100;
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

  /** {@code p} with the TPOT co-location guard over every model when the policy has it. */
  KvprPlacement guarded(KvprPlacement p) {
    if (!policy.tpotGuard()) return p;
    Map<String, TpotColocation.Member> members = new HashMap<>();
    for (SimModelState m : models.values()) members.put(m.id(), member(m));
    return p.withTpotGuard(members);
  }

  /** {@code m} for {@link TpotColocation}: its decode step at its running context now, its prefill chunk at {@link #PREFILL_CHUNK_TOKENS} tokens. */
  TpotColocation.Member member(SimModelState m) {
    long context = 0;
    if (m.serving != null) for (SimRequest r : m.serving.running) context += r.contextTokens;
    ModelProfile p = m.spec.profile();
    return new TpotColocation.Member(m.id(), m.slo.tpot().toNanos(), gpu.decodeStepNanos(p, context), gpu.prefillNanos(p, PREFILL_CHUNK_TOKENS));
  }

  ModelDemand demand(SimModelState m, int gpuId) {
    return ModelDemand.of(m.id(), rates.tokensPerSecond(m.id(), now), m.spec.profile().kvBytesPerToken(), m.slo.tpot(),
        m.spec.profile().weightBytes(), gpuId);
  }

}
