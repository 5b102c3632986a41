package io.prism.actors;

import io.prism.runtime.engine.Device;
import io.prism.runtime.engine.EngineStats;
import io.prism.runtime.engine.ModelEngine;
import io.prism.runtime.memory.PagePool;
import io.prism.runtime.policy.ModelActivity;
import io.prism.runtime.policy.ModelMemory;
import io.prism.runtime.policy.Slo;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.LongSupplier;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * Everything of one device that only its engine thread may touch: the {@link Device}, its {@link
 * PagePool} and the {@link ModelEngine} of every model instance on it. Created by the device's
 * {@link PagePoolActor} and handed (inside this node only) to the {@link ModelActor}s of the device,
 * which all run on the device's one-thread dispatcher; so every access happens on that one thread
 * and nothing here is synchronised.
 *
 * <p>Because pool and engines live on one thread, {@link #snapshot}, {@link #memories} and {@link
 * #checkConservation} see them in one consistent state. With {@code prism.gpu.check-invariants} the
 * page-conservation invariant is checked after every step and every reclaim action; the first
 * violation makes the device unhealthy.
 */
public final class GpuRuntime {
  /** One model instance's engine and what the device's policies need to know about it. */
  static final class EngineEntry {
    final ModelEngine engine;
    final long weightBytes;
    /** Prefill speed: measured at load, refined by its model actor from its steps. */
    double prefillTokensPerSecond;
    Slo slo;
    /** {@link System#nanoTime()} since when the engine has had work without progress, or -1 (real time, not the device clock). */
    long stalledSinceNanos = -1;

    EngineEntry(ModelEngine engine, long weightBytes, Slo slo, double prefillTokensPerSecond) {
      this.engine = engine;
      this.weightBytes = weightBytes;
      this.slo = slo;
      this.prefillTokensPerSecond = prefillTokensPerSecond;
    }
  }

  private final GpuId gpu;
  private final Device device;
  private final PagePool pool;
  private final LongSupplier clock;
  private final GpuPolicySettings policies;
  private final Map<String, EngineEntry> engines = new TreeMap<>();
  private final ArrayDeque<StepTrace.Sample> trace = new ArrayDeque<>();
  private final Thread owner;
  private ActorRef<PagePoolActor.Command> poolActor;
  private String fault = "";
  private String violation = "";
  private long invariantChecks;
  private long stepSeq;

  /** Created on the device's engine thread, which becomes its only legal user. */
  GpuRuntime(GpuId gpu, Device device, PagePool pool, LongSupplier clockNanos, GpuPolicySettings policies) {
    this.gpu = gpu;
    this.device = device;
    this.pool = pool;
    this.clock = clockNanos;
    this.policies = policies;
    this.owner = Thread.currentThread();
  }

  /**
   * Checks that the caller is the device's engine thread.
   *
   * @throws IllegalStateException naming both threads otherwise (an actor of this device is not on
   *     the device's dispatcher {@code prism.gpu.dispatchers.gpu-N})
   */
  void checkThread() {
    if (Thread.currentThread() != owner) {
      throw new IllegalStateException("device " + gpu + " is owned by thread " + owner.getName() + " but was used from "
          + Thread.currentThread().getName() + "; its actors must run on dispatcher " + PrismSettings.dispatcherId(device.index()));
    }
  }

  /** The device's cluster-wide id. */
  public GpuId gpu() {
    return gpu;
  }

  /** The device (engine thread only). */
  public Device device() {
    return device;
  }

  /** The device's page pool (engine thread only). */
  public PagePool pool() {
    return pool;
  }

  /** Now on the device's clock (the engines' clock; {@link System#nanoTime()} outside tests). */
  public long nowNanos() {
    return clock.getAsLong();
  }

  /** The device's clock, for the engines. */
  LongSupplier clock() {
    return clock;
  }

  GpuPolicySettings policies() {
    return policies;
  }

  /** The page pool actor now serving this runtime (it changes if the actor is started again). */
  ActorRef<PagePoolActor.Command> poolActor() {
    return poolActor;
  }

  void poolActor(ActorRef<PagePoolActor.Command> ref) {
    poolActor = ref;
  }

  void register(String modelId, ModelEngine engine, long weightBytes, Slo slo, double prefillTokensPerSecond) {
    checkThread();
    if (engines.putIfAbsent(modelId, new EngineEntry(engine, weightBytes, slo, prefillTokensPerSecond)) != null) {
      throw new IllegalStateException("model " + modelId + " already has an engine on " + gpu);
    }
  }

  void deregister(String modelId) {
    engines.remove(modelId);
  }

  EngineEntry entry(String modelId) {
    return engines.get(modelId);
  }

  /** Every model's memory as {@code ReclaimPolicy} sees it, now. */
  List<ModelMemory> memories(long nowNanos) {
    List<ModelMemory> out = new ArrayList<>(engines.size());
    for (EngineEntry e : engines.values()) out.add(e.engine.memory().modelMemory(e.slo, nowNanos));
    return out;
  }

  /** Every model's activity as {@code IdleEvictionPolicy} sees it. */
  List<ModelActivity> activities() {
    List<ModelActivity> out = new ArrayList<>(engines.size());
    for (EngineEntry e : engines.values()) out.add(e.engine.memory().activity());
    return out;
  }

  /** Records a failure that leaves the device unable to make progress (e.g. pages that could not be returned). */
  void markFaulty(String message) {
    fault = message;
  }

  /** After {@code modelId}'s engine step: a trace sample and, when enabled, the conservation check. */
  void afterStep(String modelId) {
    stepSeq++;
    if (policies.traceSteps() > 0) {
      Map<String, Integer> held = new TreeMap<>();
      for (EngineEntry e : engines.values()) held.put(e.engine.owner(), pool.pagesHeldBy(e.engine.owner()));
      if (trace.size() == policies.traceSteps()) trace.pollFirst();
      trace.addLast(new StepTrace.Sample(stepSeq, nowNanos(), modelId, held));
    }
    checkConservation("step of " + modelId);
  }

  /** The recent step samples. */
  StepTrace trace() {
    return new StepTrace(gpu, List.copyOf(trace));
  }

  /**
   * When {@code prism.gpu.check-invariants} is on: checks the pool's accounting, every engine's
   * scheduler and blocks, and that each model's pool pages equal its page ids times pages per id and
   * sum to the pool's held pages. Records the first violation (the device turns unhealthy).
   *
   * @param after what just happened, for the violation message
   */
  void checkConservation(String after) {
    if (!policies.checkInvariants()) return;
    invariantChecks++;
    try {
      pool.checkInvariants();
      int held = 0;
      for (Map.Entry<String, EngineEntry> e : engines.entrySet()) {
        ModelEngine engine = e.getValue().engine;
        engine.checkInvariants();
        int pages = engine.pageIdsHeld() * engine.physicalPagesPerPageId();
        if (pages != pool.pagesHeldBy(engine.owner())) {
          throw new IllegalStateException("model " + e.getKey() + " maps " + pages + " pages but the pool says it holds " + pool.pagesHeldBy(engine.owner()));
        }
        held += pages;
      }
      if (held != pool.heldPages()) throw new IllegalStateException("models hold " + held + " pages but the pool counts " + pool.heldPages());
    } catch (IllegalStateException ex) {
      if (violation.isEmpty()) violation = "after " + after + ": " + ex.getMessage();
    }
  }

  /**
   * A consistent picture of the device: pool counters, every model's pages and queues, whether the
   * page-conservation invariant holds and whether every engine can make progress. The GPU actor's
   * books and events are added by it ({@link GpuStatus#withBooks}).
   *
   * @param incarnation id of the GPU actor instance, copied into the status
   * @param stallTimeoutNanos how long an engine may have work without progress before it counts as stuck
   */
  public GpuStatus snapshot(long incarnation, long stallTimeoutNanos) {
    checkThread();
    long now = nowNanos();
    long realNow = System.nanoTime();
    List<GpuStatus.ModelStatus> models = new ArrayList<>();
    String problem = fault;
    for (Map.Entry<String, EngineEntry> e : engines.entrySet()) {
      EngineEntry entry = e.getValue();
      ModelEngine engine = entry.engine;
      long stalled = entry.stalledSinceNanos;
      boolean stuck = stalled >= 0 && realNow - stalled > stallTimeoutNanos;
      if (stuck && problem.isEmpty()) problem = "model " + e.getKey() + " has made no progress for " + (realNow - stalled) / 1_000_000 + " ms";
      EngineStats st = engine.stats();
      int kept = (engine.emptyPageIds() + engine.cachedPageIds()) * engine.physicalPagesPerPageId();
      String owner = engine.owner();
      models.add(new GpuStatus.ModelStatus(e.getKey(), entry.weightBytes, pool.pagesHeldBy(owner), kept, engine.pageIdsHeld(),
          engine.waitingCount(), engine.runningCount(), !stuck, st.finished(), st.cancelled(), st.failed(), st.preemptions(),
          engine.weightsResident(), engine.lastActivityNanos(), st.steps(), pool.minPagesOf(owner), pool.maxPagesOf(owner), entry.slo.ttft(),
          entry.slo.tpot(), entry.prefillTokensPerSecond, ModelBooks.EMPTY));
    }
    String invariant = violation;
    if (invariant.isEmpty()) {
      try {
        pool.checkInvariants();
      } catch (IllegalStateException ex) {
        invariant = ex.getMessage();
      }
    }
    if (!invariant.isEmpty() && problem.isEmpty()) problem = "page conservation broken: " + invariant;
    return new GpuStatus(gpu, device.description(), incarnation, pool.budgetBytes(), pool.pageBytes(), pool.capacityPages(),
        pool.freePages(), pool.reservePages(), pool.heldPages(), pool.weightBytes(), models, invariant, problem.isEmpty(), problem, now,
        invariantChecks, 0, List.of());
  }
}
