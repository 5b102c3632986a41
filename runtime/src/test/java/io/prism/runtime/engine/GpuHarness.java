package io.prism.runtime.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.memory.PagePool;
import io.prism.runtime.policy.IdleEvictionPolicy;
import io.prism.runtime.policy.ModelActivity;
import io.prism.runtime.policy.ModelMemory;
import io.prism.runtime.policy.ReclaimAction;
import io.prism.runtime.policy.ReclaimPlan;
import io.prism.runtime.policy.ReclaimPolicy;
import io.prism.runtime.policy.Slo;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * Plays the GPU actor's role for the engines sharing one {@link PagePool}, on one thread, with the
 * policies the real one uses: each {@link #tick()} refills the pool's reserve, evicts models idle
 * past the threshold ({@link IdleEvictionPolicy}), and for every model with work negotiates memory
 * ({@link ReclaimPolicy}) when it is short, then steps it. Page conservation is checked after every
 * step. Every decision is logged.
 */
final class GpuHarness {
  final PagePool pool;
  final EngineHarness events = new EngineHarness();
  final List<String> log = new ArrayList<>();
  final Map<String, Integer> actionCounts = new LinkedHashMap<>();
  private final Map<String, ModelEngine> engines = new LinkedHashMap<>();
  private final Map<String, Slo> slos = new LinkedHashMap<>();
  private final ReclaimPolicy reclaim;
  private final IdleEvictionPolicy idle;
  private final LongSupplier clock;
  int ticks;

  GpuHarness(PagePool pool, LongSupplier clock, java.time.Duration idleThreshold) {
    this.pool = pool;
    this.clock = clock;
    this.reclaim = new ReclaimPolicy(idleThreshold);
    this.idle = new IdleEvictionPolicy(idleThreshold);
  }

  /** Registers a model whose weights the caller has reserved in the pool. */
  void add(ModelEngine e, Slo slo) {
    engines.put(e.owner(), e);
    slos.put(e.owner(), slo);
  }

  ModelEngine engine(String id) {
    return engines.get(id);
  }

  /** A request arrives for {@code model}: an evicted model is activated first (the request waits for it). */
  void submit(String model, GenerationRequest r) {
    ModelEngine e = engines.get(model);
    events.expect(r.requestId());
    assertInstanceOf(Admission.Accepted.class, e.submit(r));
    if (!e.weightsResident()) activate(e);
  }

  /** One round over the GPU's models. */
  void tick() {
    ticks++;
    pool.refillReserve();
    List<ModelActivity> activity = new ArrayList<>();
    for (ModelEngine e : engines.values()) activity.add(e.memory().activity());
    for (String id : idle.modelsToEvict(activity, clock.getAsLong())) evict(engines.get(id), "idle");
    for (ModelEngine e : engines.values()) {
      if (!e.hasWork()) continue;
      if (!e.weightsResident()) activate(e);
      if (e.weightsResident()) negotiate(e);
      events.accept(e.step());
      checkConservation();
    }
  }

  /** Ticks until no model has work; returns the ticks taken. */
  int runToEnd(int maxTicks) {
    int start = ticks;
    while (engines.values().stream().anyMatch(ModelEngine::hasWork)) {
      assertTrue(ticks - start < maxTicks, "the GPU does not finish its work");
      tick();
    }
    return ticks - start;
  }

  private List<ModelMemory> models(long now) {
    List<ModelMemory> out = new ArrayList<>();
    for (ModelEngine e : engines.values()) out.add(e.memory().modelMemory(slos.get(e.owner()), now));
    return out;
  }

  private void negotiate(ModelEngine m) {
    int need = m.pagesWanted() * m.physicalPagesPerPageId();
    if (need == 0 || need <= pool.availableTo(m.owner())) return;
    reclaimFor(m, need, m.pagesWantedForRunning() > 0);
  }

  private boolean reclaimFor(ModelEngine m, int pagesNeeded, boolean mayPreempt) {
    ReclaimPlan plan = reclaim.plan(new ReclaimPolicy.Requester(m.owner(), slos.get(m.owner()), pagesNeeded, mayPreempt),
        new ReclaimPolicy.PoolState(pool.freePages() - pool.reservePages(), pool.reservePages()), models(clock.getAsLong()));
    if (plan instanceof ReclaimPlan.Insufficient no) {
      log.add(ticks + " " + m.owner() + " waits: " + no.reason());
      return false;
    }
    for (ReclaimAction a : ((ReclaimPlan.Granted) plan).actions()) {
      log.add(ticks + " for " + m.owner() + ": " + a);
      actionCounts.merge(a.getClass().getSimpleName(), 1, Integer::sum);
      if (a instanceof ReclaimAction.PreemptDecode p) actionCounts.merge("PreemptDecode of " + p.modelId() + " for " + m.owner(), 1, Integer::sum);
      if (a instanceof ReclaimAction.ReclaimEmptyPages r) {
        engines.get(r.modelId()).releaseEmptyPages(pageIds(r.modelId(), r.pages()));
      } else if (a instanceof ReclaimAction.DropCachedBlocks d) {
        engines.get(d.modelId()).dropCachedBlocks(pageIds(d.modelId(), d.pages()));
      } else if (a instanceof ReclaimAction.EvictWeights w) {
        evict(engines.get(w.modelId()), "reclaim");
      } else if (a instanceof ReclaimAction.PreemptDecode p) {
        assertTrue(engines.get(p.modelId()).preemptForMemory(p.sequenceId()));
      } // TakeReserve: nothing to do, acquire takes reserve pages first
      checkConservation();
    }
    return true;
  }

  private int pageIds(String model, int pages) {
    int per = engines.get(model).physicalPagesPerPageId();
    return (pages + per - 1) / per;
  }

  private void evict(ModelEngine e, String why) {
    e.evict();
    pool.releaseWeights(e.owner());
    log.add(ticks + " evicted " + e.owner() + " (" + why + ")");
    checkConservation();
  }

  /** The documented sequence: make room for the weights through reclaim, reserve them, activate. */
  private void activate(ModelEngine e) {
    int pages = (int) ((e.weightBytes() + pool.pageBytes() - 1) / pool.pageBytes());
    if (!pool.reserveWeights(e.owner(), e.weightBytes())) {
      if (!reclaimFor(e, pages, false) || !pool.reserveWeights(e.owner(), e.weightBytes())) return; // waits
    }
    e.activate();
    log.add(ticks + " activated " + e.owner());
    checkConservation();
  }

  /** Pool invariants, every engine's invariants, and pages held = sum over models of page ids x pages per page id. */
  void checkConservation() {
    pool.checkInvariants();
    int held = 0;
    for (ModelEngine e : engines.values()) {
      e.checkInvariants();
      held += e.pageIdsHeld() * e.physicalPagesPerPageId();
      assertEquals(e.pageIdsHeld() * e.physicalPagesPerPageId(), pool.pagesHeldBy(e.owner()), e.owner() + " pages");
    }
    assertEquals(pool.heldPages(), held, "pages held by the pool's owners = pages behind the models' page ids");
  }
}
