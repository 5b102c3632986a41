package io.prism.actors;

import io.prism.runtime.policy.IdleEvictionPolicy;
import io.prism.runtime.policy.ModelActivity;
import io.prism.runtime.policy.ModelMemory;
import io.prism.runtime.policy.ReclaimAction;
import io.prism.runtime.policy.ReclaimPlan;
import io.prism.runtime.policy.ReclaimPolicy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.function.LongSupplier;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * The decisions of one {@link GpuActor}, kept apart from its life-cycle handling: local admission
 * rounds ({@link LocalAdmission}), the reclaim negotiation between the device's models ({@link
 * ReclaimPolicy}), idle eviction on a timer ({@link IdleEvictionPolicy}) and the books of all of
 * them ({@link GpuBooks}). Called only from inside the GPU actor (its thread and state); it sends
 * the actor's messages through the refs it is given.
 *
 * <p><b>Negotiation.</b> One at a time per GPU: a model that asks ({@link GpuActor.NeedPages}, with a
 * snapshot of every model's memory) while another negotiation runs is told to ask again when it is
 * over, with a fresh snapshot ({@link ModelActor.Outcome#RETRY}). A plan with steps goes to
 * the pool actor, which carries it out against the engines as they are then and answers {@link
 * GpuActor.Reclaimed}; the requester then gets {@link ModelActor.Outcome#GRANTED}. A plan that cannot free enough
 * ({@link ReclaimPlan.Insufficient}) is refused. A negotiation the pool does not answer within
 * {@code prism.gpu.reclaim-timeout} (an actor died in the middle) is abandoned, and so is one whose
 * pool actor stopped: the requester asks again.
 */
final class GpuScheduler {
  private record Negotiation(long id, String modelId, boolean forWeights) {}

  private final ActorContext<GpuActor.Command> ctx;
  private final GpuPolicySettings policies;
  private final TimerScheduler<GpuActor.Command> timers;
  private final LongSupplier clock;
  private final Function<String, GpuModels.Entry> models;
  private final java.util.function.Supplier<Set<String>> modelIds;
  private final ReclaimPolicy reclaim;
  private final IdleEvictionPolicy idle;
  private final long idleThresholdNanos;
  private final LocalAdmission admission;
  private final GpuBooks books;
  private final Set<String> askAgain = new LinkedHashSet<>();
  private ActorRef<PagePoolActor.Command> pool;
  private Negotiation negotiation;
  private long negotiations;
  private String faultTarget = "";
  private String faultMode = "";

  GpuScheduler(ActorContext<GpuActor.Command> ctx, GpuId gpu, GpuPolicySettings policies, TimerScheduler<GpuActor.Command> timers,
      LongSupplier clock, Function<String, GpuModels.Entry> models, java.util.function.Supplier<Set<String>> modelIds,
      ActorRef<PagePoolActor.Command> pool) {
    this.ctx = ctx;
    this.policies = policies;
    this.timers = timers;
    this.clock = clock;
    this.models = models;
    this.modelIds = modelIds;
    this.pool = pool;
    // Without idle eviction, no model is ever idle enough for reclaim to take its weights.
    Duration threshold = policies.evictIdleModels() ? policies.idleEviction() : Duration.ofDays(36500);
    this.reclaim = new ReclaimPolicy(threshold);
    this.idle = new IdleEvictionPolicy(threshold);
    this.idleThresholdNanos = threshold.toNanos();
    this.admission = new LocalAdmission(policies.deadlineAdmission());
    this.books = new GpuBooks(gpu, ctx.getLog(), policies.eventLogSize());
  }

  /** Records and logs a decision. */
  void event(String kind, String modelId, String detail) {
    books.event(kind, modelId, detail);
  }

  /** Arms a fault for the next reclaim plan with steps (see {@link GpuActor.InjectReclaimFault}). */
  void armFault(String target, String mode) {
    faultTarget = target;
    faultMode = mode;
  }

  // ---- local admission ----

  void enqueue(GpuActor.Enqueue m) {
    GpuModels.Entry e = models.apply(m.modelId());
    if (e == null) return;
    admission.enqueue(m.modelId(), m.requestId(), m.arrivalNanos(), m.promptTokens(), e.spec.ttftSlo(), e.prefillTokensPerSecond);
    admit();
  }

  void progress(GpuActor.Progress m) {
    admission.firstTokens(m.firstTokens());
    admission.ended(m.ended());
    admit();
  }

  /** Forgets the queued and admitted requests of a model whose actor ended them itself (restart, stop). */
  void forgetRequestsOf(String modelId) {
    admission.forgetModel(modelId);
  }

  /** Forgets a model that left the GPU. */
  void forgetModel(String modelId) {
    books.forget(modelId);
    askAgain.remove(modelId);
  }

  private void admit() {
    LocalAdmission.Round round = admission.round(clock.getAsLong());
    round.admitted().forEach((modelId, ids) -> {
      GpuModels.Entry e = models.apply(modelId);
      if (e != null) e.ref.tell(new ModelActor.Admit(ids));
    });
    round.rejected().forEach((id, r) -> {
      books.event(GpuEvent.REJECTED, r.modelId(), id + ": " + r.reason());
      GpuModels.Entry e = models.apply(r.modelId());
      if (e != null) e.ref.tell(new ModelActor.Drop(id, r.reason()));
    });
  }

  // ---- reclaim negotiation ----

  void needPages(GpuActor.NeedPages m) {
    GpuModels.Entry e = models.apply(m.modelId());
    if (e == null || e.unloading) return;
    if (negotiation != null) {
      askAgain.add(m.modelId());
      return;
    }
    ReclaimPlan plan;
    String purpose;
    try {
      boolean running = m.pagesForRunning() > 0;
      purpose = m.forWeights() ? "its weights" : running ? "its running sequences and waiting requests"
          : m.prefillAtRisk() ? "a prefill at risk of its TTFT SLO" : "admitting its waiting requests";
      plan = plan(e, m.modelId(), m.pagesNeeded(), running, m.prefillAtRisk(), m);
      if (plan instanceof ReclaimPlan.Insufficient && running && m.pagesForRunning() < m.pagesNeeded()) {
        purpose = "its running sequences";
        plan = plan(e, m.modelId(), m.pagesForRunning(), true, false, m);
      }
    } catch (IllegalArgumentException ex) {
      ctx.getLog().warn("Reclaim for {} could not be planned: {}", m.modelId(), ex.getMessage());
      e.ref.tell(new ModelActor.PagesReady(-1, ModelActor.Outcome.REFUSED));
      return;
    }
    if (plan instanceof ReclaimPlan.Insufficient no) {
      String held = m.prefillAtRisk() ? holdLooser(e) : "";
      books.refused(m.modelId(), purpose, no.reason() + held);
      e.ref.tell(new ModelActor.PagesReady(-1, ModelActor.Outcome.REFUSED));
      return;
    }
    List<ReclaimAction> steps = ((ReclaimPlan.Granted) plan).actions();
    if (steps.stream().allMatch(a -> a instanceof ReclaimAction.TakeReserve)) { // the pool's own pages cover it now
      e.ref.tell(new ModelActor.PagesReady(-1, ModelActor.Outcome.GRANTED));
      return;
    }
    long id = ++negotiations;
    negotiation = new Negotiation(id, m.modelId(), m.forWeights());
    String fault = "";
    if (!faultTarget.isEmpty()) {
      if (faultTarget.equals(GpuActor.POOL)) fault = faultMode;
      else if (models.apply(faultTarget) != null) models.apply(faultTarget).ref.tell(new ModelActor.InjectFault("in the middle of reclaim " + id));
      faultTarget = "";
    }
    ctx.getLog().debug("Reclaim {} for {} ({} pages for {}): {}", id, m.modelId(), m.pagesNeeded(), purpose, steps);
    pool.tell(new PagePoolActor.Reclaim(id, m.modelId(), steps, idleThresholdNanos, fault));
    timers.startSingleTimer("reclaim", new GpuActor.ReclaimTimedOut(id), policies.reclaimTimeout());
  }

  /**
   * The plan for {@code pages}. Decode preemption is allowed for running sequences and for a prefill
   * at risk of its TTFT SLO, and only of models with a strictly looser SLO (the others' running
   * lists, the requester's own included, are hidden from the policy): preempting within one SLO
   * class gains no SLO and costs a recompute, and two equal models would preempt each other back and
   * forth; within a model its engine preempts its newest sequence itself, as vLLM does.
   */
  private ReclaimPlan plan(GpuModels.Entry e, String modelId, int pages, boolean running, boolean prefillAtRisk, GpuActor.NeedPages m) {
    List<ModelMemory> memories = new ArrayList<>();
    for (ModelMemory mm : m.memories()) {
      boolean looser = e.spec.slo().isStricterThan(mm.slo()) && !mm.modelId().equals(modelId);
      memories.add(looser ? mm : new ModelMemory(mm.modelId(), mm.slo(), mm.resident(), mm.heldPages(), mm.emptyPages(), mm.cachedBlockPages(),
          mm.minPages(), mm.idleNanos(), mm.weightPages(), List.of()));
    }
    return reclaim.plan(new ReclaimPolicy.Requester(modelId, e.spec.slo(), pages, running || prefillAtRisk),
        new ReclaimPolicy.PoolState(m.freePages(), m.reservePages()), memories);
  }

  /**
   * A stricter model's prefill is at risk and nothing can be freed now: the models with a looser SLO
   * start no new sequence for half its TTFT SLO, so the memory their sequences free as they end
   * goes to it. Returns the note for the event log.
   */
  private String holdLooser(GpuModels.Entry strict) {
    long nanos = Math.max(policies.reclaimRetry().toNanos(), strict.spec.ttftSlo().toNanos() / 2);
    List<String> held = new ArrayList<>();
    for (GpuModels.Entry other : heldCandidates(strict)) {
      other.ref.tell(new ModelActor.HoldAdmissions(nanos, strict.spec.id()));
      held.add(other.spec.id());
    }
    return held.isEmpty() ? "" : "; " + held + " start no new sequences for " + nanos / 1_000_000 + " ms";
  }

  private List<GpuModels.Entry> heldCandidates(GpuModels.Entry strict) {
    List<GpuModels.Entry> out = new ArrayList<>();
    for (String id : modelIds.get()) {
      GpuModels.Entry e = models.apply(id);
      if (e != null && e != strict && strict.spec.slo().isStricterThan(e.spec.slo())) out.add(e);
    }
    return out;
  }

  void reclaimed(GpuActor.Reclaimed r) {
    for (ReclaimExecutor.Result step : r.results()) books.step(step, r.forModel());
    if (r.negotiationId() < 0) books.granted(r.forModel()); // done in line by the model
    if (negotiation == null || negotiation.id() != r.negotiationId()) return; // abandoned meanwhile
    timers.cancel("reclaim");
    finish(true);
  }

  void reclaimTimedOut(long negotiationId) {
    if (negotiation == null || negotiation.id() != negotiationId) return;
    books.event(GpuEvent.RECLAIM_ABANDONED, negotiation.modelId(), "reclaim " + negotiationId + " got no answer from the page pool within "
        + policies.reclaimTimeout().toMillis() + " ms; " + negotiation.modelId() + " asks again");
    finish(false);
  }

  /** The pool actor stopped and {@code newPool} serves the same pool now; a negotiation in flight is abandoned. */
  void poolRestarted(ActorRef<PagePoolActor.Command> newPool) {
    pool = newPool;
    books.event(GpuEvent.POOL_RESTARTED, "", "the page pool actor stopped; a new one serves the same pool"
        + (negotiation == null ? "" : "; reclaim " + negotiation.id() + " for " + negotiation.modelId() + " abandoned, it asks again"));
    if (negotiation != null) {
      timers.cancel("reclaim");
      finish(false);
    }
  }

  /** Ends the negotiation: the requester steps (granted) or asks again; so does every model that asked meanwhile. */
  private void finish(boolean granted) {
    GpuModels.Entry e = models.apply(negotiation.modelId());
    if (granted) books.granted(negotiation.modelId());
    // abandoned: the requester checks again and asks with a fresh snapshot (it was not refused)
    if (e != null) e.ref.tell(new ModelActor.PagesReady(negotiation.id(), granted ? ModelActor.Outcome.GRANTED : ModelActor.Outcome.RETRY));
    negotiation = null;
    for (String id : askAgain) {
      GpuModels.Entry other = models.apply(id);
      if (other != null) other.ref.tell(new ModelActor.PagesReady(-1, ModelActor.Outcome.RETRY));
    }
    askAgain.clear();
  }

  void activated(GpuActor.Activated m) {
    books.activated(m.modelId(), m.nanos());
  }

  // ---- idle eviction ----

  /** After a fresh snapshot: evicts the models idle past the threshold, and sets the timer for the next one. */
  void idleCheck(GpuStatus s) {
    if (!policies.evictIdleModels()) return;
    List<ModelActivity> activity = new ArrayList<>();
    for (GpuStatus.ModelStatus m : s.models()) {
      int inFlight = m.waiting() + m.running() + admission.queued(m.modelId());
      activity.add(new ModelActivity(m.modelId(), m.resident(), m.lastActivityNanos(), inFlight));
    }
    List<String> due = idle.modelsToEvict(activity, s.nowNanos());
    if (!due.isEmpty()) pool.tell(new PagePoolActor.EvictIdle(due, idleThresholdNanos));
    OptionalLong next = idle.nextEvictionNanos(activity, s.nowNanos());
    if (next.isPresent()) {
      timers.startSingleTimer("idle", GpuActor.EvictIdleModels.INSTANCE, Duration.ofNanos(next.getAsLong() - s.nowNanos()).plusMillis(1));
    }
  }

  void idleEvicted(GpuActor.IdleEvicted m) {
    for (ReclaimExecutor.Result r : m.results()) {
      if (r.pagesFreed() > 0) books.step(r, "(idle)");
      else ctx.getLog().debug("Idle eviction skipped: {}", r.detail());
    }
  }

  /** {@code raw} with the books of the models in {@code modelIds}, the queue and the recent events. */
  GpuStatus complete(GpuStatus raw, Set<String> modelIds) {
    Map<String, ModelBooks> b = new TreeMap<>();
    for (String id : modelIds) b.put(id, books.books(id, admission));
    return raw.withBooks(b, admission.queued(), books.events());
  }
}
