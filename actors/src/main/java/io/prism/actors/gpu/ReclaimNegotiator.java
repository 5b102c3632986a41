package io.prism.actors.gpu;

import io.prism.actors.model.ModelActor;
import io.prism.actors.pool.Handover;
import io.prism.actors.pool.ReclaimResult;

import io.prism.runtime.policy.MemoryAsk;
import io.prism.runtime.policy.ModelMemory;
import io.prism.runtime.policy.ReclaimAction;
import io.prism.runtime.policy.ReclaimPlan;
import io.prism.runtime.policy.ReclaimPolicy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.function.Supplier;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * The GPU actor's reclaim negotiation between the models of its device, one at a time:
 *
 * <ol>
 *   <li>the pool could not cover a model's ask ({@link GpuActor.NeedPages});
 *   <li>every model actor is asked for its memory ({@link ModelActor.GetMemory}; those that do not
 *       answer within the gather timeout are left out);
 *   <li>{@link ReclaimPolicy} plans on those snapshots (decode preemption only for running
 *       sequences or a prefill at risk, and only of models with a strictly looser SLO);
 *   <li>each model that gives pages gets its steps ({@link ModelActor.Reclaim}), carries them out on
 *       its own engine and returns the pages to the pool with a {@link Handover}; the pool grants
 *       them to the requester and reports {@link GpuActor.Reclaimed};
 *   <li>when every giver reported, the requester gets {@link ModelActor.PagesReady} GRANTED (it
 *       already holds the pages). A plan that cannot free enough is refused (and, for a prefill at
 *       risk, the looser models hold their admissions, {@link MemoryAsk#holdNanos}); a negotiation
 *       not finished within {@code prism.gpu.reclaim-timeout}, or cut short by a pool restart, is
 *       abandoned: the requester asks again (RETRY). A model that asks meanwhile is told to ask
 *       again when the current one is over.
 * </ol>
 *
 * <p>Plain state owned by the GPU actor; it sends the actor's messages through the refs it is given.
 */
final class ReclaimNegotiator {
  private static final class Negotiation {
    final long id;
    final GpuActor.NeedPages ask;
    final Map<String, ModelMemory> memories = new LinkedHashMap<>();
    final Set<String> expected;
    final Set<String> givers = new HashSet<>();
    boolean planned;

    Negotiation(long id, GpuActor.NeedPages ask, Set<String> expected) {
      this.id = id;
      this.ask = ask;
      this.expected = expected;
    }
  }

  private final ActorContext<GpuActor.Command> ctx;
  private final GpuPolicySettings policies;
  private final TimerScheduler<GpuActor.Command> timers;
  private final Function<String, GpuModels.Entry> models;
  private final Supplier<Set<String>> modelIds;
  private final GpuBooks books;
  private final ReclaimPolicy reclaim;
  private final long idleThresholdNanos;
  /** Reclaim for a model's weights (load, activation): idle models go after {@code swap-idle-after}. */
  private final ReclaimPolicy swap;
  private final long swapThresholdNanos;
  private final Set<String> askAgain = new LinkedHashSet<>();
  private Negotiation current;
  private long negotiations;
  private String faultTarget = "";

  ReclaimNegotiator(ActorContext<GpuActor.Command> ctx, GpuPolicySettings policies, TimerScheduler<GpuActor.Command> timers,
      Function<String, GpuModels.Entry> models, Supplier<Set<String>> modelIds, GpuBooks books) {
    this.ctx = ctx;
    this.policies = policies;
    this.timers = timers;
    this.models = models;
    this.modelIds = modelIds;
    this.books = books;
    // Without idle eviction, no model is ever idle enough for reclaim to take its weights.
    Duration threshold = policies.evictIdleModels() ? policies.idleEviction() : Duration.ofDays(36500);
    this.reclaim = new ReclaimPolicy(threshold);
    this.idleThresholdNanos = threshold.toNanos();
    Duration swapAfter = !policies.evictIdleModels() ? threshold
        : policies.swapIdleAfter().compareTo(threshold) < 0 ? policies.swapIdleAfter() : threshold;
    this.swap = new ReclaimPolicy(swapAfter, policies.maxResidentModels());
    this.swapThresholdNanos = swapAfter.toNanos();
  }

  /** The idle time after which a model's weights may be evicted, in nanoseconds. */
  long idleThresholdNanos() {
    return idleThresholdNanos;
  }

  /** Test hook: the next plan with steps crashes this model's actor while it is in flight. */
  void armModelFault(String modelId) {
    faultTarget = modelId;
  }

  void needPages(GpuActor.NeedPages m) {
    GpuModels.Entry e = models.apply(m.modelId());
    if (e == null || e.unloading) return;
    if (current != null) {
      askAgain.add(m.modelId());
      return;
    }
    Set<String> expected = new LinkedHashSet<>();
    for (String id : modelIds.get()) {
      GpuModels.Entry o = models.apply(id);
      if (o != null && o.ready && !o.unloading) expected.add(id);
    }
    current = new Negotiation(++negotiations, m, expected);
    for (String id : expected) models.apply(id).ref.tell(new ModelActor.GetMemory(current.id, ctx.getSelf()));
    timers.startSingleTimer("reclaim", new GpuActor.ReclaimTimedOut(current.id), policies.reclaimTimeout());
    timers.startSingleTimer("gather", new GpuActor.GatherTimedOut(current.id), gatherTimeout());
    if (expected.isEmpty()) plan();
  }

  private Duration gatherTimeout() {
    Duration half = policies.reclaimTimeout().dividedBy(2);
    return half.compareTo(Duration.ofMillis(500)) < 0 ? half : Duration.ofMillis(500);
  }

  void memoryReply(GpuActor.MemoryReply m) {
    if (current == null || current.id != m.negotiationId() || current.planned) return;
    current.memories.put(m.modelId(), m.memory());
    if (current.memories.keySet().containsAll(current.expected)) plan();
  }

  void gatherTimedOut(long id) {
    if (current != null && current.id == id && !current.planned) plan();
  }

  private void plan() {
    Negotiation n = current;
    n.planned = true;
    timers.cancel("gather");
    GpuActor.NeedPages m = n.ask;
    GpuModels.Entry e = models.apply(m.modelId());
    if (e == null) {
      finish(ModelActor.Outcome.RETRY);
      return;
    }
    boolean running = m.pagesForRunning() > 0;
    String purpose = m.forWeights() ? "its weights" : running ? "its running sequences and waiting requests"
        : m.prefillAtRisk() ? "a prefill at risk of its TTFT SLO" : "admitting its waiting requests";
    ReclaimPlan plan;
    try {
      plan = plan(e, m.modelId(), m.pagesNeeded(), running, m.prefillAtRisk(), m, n.memories);
      if (plan instanceof ReclaimPlan.Insufficient && running && m.pagesForRunning() < m.pagesNeeded()) {
        purpose = "its running sequences";
        plan = plan(e, m.modelId(), m.pagesForRunning(), true, false, m, n.memories);
      }
    } catch (IllegalArgumentException ex) {
      ctx.getLog().warn("Reclaim for {} could not be planned: {}", m.modelId(), ex.getMessage());
      finish(ModelActor.Outcome.REFUSED);
      return;
    }
    if (plan instanceof ReclaimPlan.Insufficient no) {
      String held = m.prefillAtRisk() ? holdLooser(e) : m.forWeights() && policies.requestGroups() ? endGroups(e, n.memories) : "";
      books.refused(m.modelId(), purpose, no.reason() + held);
      finish(ModelActor.Outcome.REFUSED);
      return;
    }
    Map<String, List<ReclaimAction>> byModel = new LinkedHashMap<>();
    for (ReclaimAction a : ((ReclaimPlan.Granted) plan).actions()) {
      if (a instanceof ReclaimAction.TakeReserve) continue; // the pool's own pages: it grants them when asked again
      byModel.computeIfAbsent(giverOf(a), k -> new ArrayList<>()).add(a);
    }
    if (byModel.isEmpty()) { // the pool's own pages cover it now: ask again
      finish(ModelActor.Outcome.RETRY);
      return;
    }
    int unit = m.forWeights() ? 1 : Math.max(1, e.profile == null ? 1 : e.profile.limits().physicalPagesPerPageId());
    ctx.getLog().debug("Reclaim {} for {} ({} pages for {}): {}", n.id, m.modelId(), m.pagesNeeded(), purpose, byModel);
    byModel.forEach((giver, actions) -> {
      GpuModels.Entry g = models.apply(giver);
      if (g == null) return;
      n.givers.add(giver);
      g.ref.tell(new ModelActor.Reclaim(n.id, m.modelId(), m.forWeights() ? null : e.ref, unit, actions,
          swapping(m, n.memories) ? swapThresholdNanos : idleThresholdNanos));
      if (giver.equals(faultTarget)) {
        faultTarget = "";
        g.ref.tell(new ModelActor.InjectFault("in the middle of reclaim " + n.id));
      }
    });
    if (n.givers.isEmpty()) finish(ModelActor.Outcome.RETRY);
  }

  private static String giverOf(ReclaimAction a) {
    if (a instanceof ReclaimAction.ReclaimEmptyPages x) return x.modelId();
    if (a instanceof ReclaimAction.DropCachedBlocks x) return x.modelId();
    if (a instanceof ReclaimAction.EvictWeights x) return x.modelId();
    if (a instanceof ReclaimAction.PreemptDecode x) return x.modelId();
    throw new IllegalArgumentException("no giver in " + a);
  }

  /**
   * The plan for {@code pages}: decode preemption is allowed for running sequences and for a
   * prefill at risk, and only of models with a strictly looser SLO ({@code DecodePreemptionPolicy}
   * never picks a stricter one; the running lists of equal-SLO models, the requester's own included,
   * are hidden): preempting within one SLO class gains no SLO and costs a recompute; within a
   * model its engine preempts its newest sequence itself.
   */
  private ReclaimPlan plan(GpuModels.Entry e, String modelId, int pages, boolean running, boolean prefillAtRisk, GpuActor.NeedPages m,
      Map<String, ModelMemory> snapshot) {
    List<ModelMemory> memories = new ArrayList<>();
    for (ModelMemory mm : snapshot.values()) {
      // stricter models keep their running list: the policy never preempts them, but a looser
      // requester's admissions then leave their pages alone (ReclaimPolicy)
      boolean keep = !mm.modelId().equals(modelId) && !mm.slo().equals(e.spec.slo());
      memories.add(keep ? mm : new ModelMemory(mm.modelId(), mm.slo(), mm.resident(), mm.heldPages(), mm.emptyPages(), mm.cachedBlockPages(),
          mm.minPages(), mm.idleNanos(), mm.weightPages(), List.of()));
    }
    return (swapping(m, snapshot) ? swap : reclaim).plan(new ReclaimPolicy.Requester(modelId, e.spec.slo(), pages, running || prefillAtRisk,
            m.forWeights()),
        new ReclaimPolicy.PoolState(m.freePages(), m.reservePages()), memories);
  }

  /**
   * Whether this ask is time sharing's: the requester needs room for its weights, or has no
   * sequence running (it cannot make progress at all, e.g. just activated with a request waiting).
   * Then models idle for {@code swap-idle-after} may be evicted, not only those idle for {@code
   * idle-eviction}.
   */
  private static boolean swapping(GpuActor.NeedPages m, Map<String, ModelMemory> snapshot) {
    if (m.forWeights()) return true;
    ModelMemory self = snapshot.get(m.modelId());
    return self != null && self.running().isEmpty() && m.pagesForRunning() == 0;
  }

  /** A stricter model's prefill is at risk and nothing can be freed: looser models start no new sequence for a while. */
  private String holdLooser(GpuModels.Entry strict) {
    long nanos = MemoryAsk.holdNanos(strict.spec.ttftSlo().toNanos(), policies.reclaimRetry().toNanos());
    List<String> held = new ArrayList<>();
    for (String id : modelIds.get()) {
      GpuModels.Entry other = models.apply(id);
      if (other != null && other != strict && strict.spec.slo().isStricterThan(other.spec.slo())) {
        other.ref.tell(new ModelActor.HoldAdmissions(nanos, strict.spec.id()));
        held.add(id);
      }
    }
    return held.isEmpty() ? "" : "; " + held + " start no new sequences for " + nanos / 1_000_000 + " ms";
  }

  /**
   * QLM's request groups ({@code prism.gpu.request-groups}): {@code waiting}'s weights cannot come
   * in, so the resident models start no new sequence for half its TTFT SLO; what they admitted
   * finishes, they go idle and the next negotiation swaps them out.
   */
  private String endGroups(GpuModels.Entry waiting, Map<String, ModelMemory> snapshot) {
    long nanos = MemoryAsk.holdNanos(waiting.spec.ttftSlo().toNanos(), policies.reclaimRetry().toNanos());
    List<String> held = new ArrayList<>();
    for (ModelMemory mm : snapshot.values()) {
      GpuModels.Entry other = models.apply(mm.modelId());
      if (other == null || other == waiting || !mm.resident()) continue;
      other.ref.tell(new ModelActor.HoldAdmissions(nanos, waiting.spec.id()));
      held.add(mm.modelId());
    }
    return held.isEmpty() ? "" : "; request group of " + held + " ends: no new sequences for " + nanos / 1_000_000 + " ms";
  }

  /** The pool reported what a giver's steps freed (negotiation id -1: an idle eviction). */
  void reclaimed(GpuActor.Reclaimed r) {
    for (ReclaimResult step : r.results()) books.step(step, r.forModel());
    if (current == null || current.id != r.negotiationId()) return; // abandoned meanwhile, or idle
    current.givers.remove(r.fromModel());
    if (current.givers.isEmpty()) finish(ModelActor.Outcome.GRANTED);
  }

  void reclaimTimedOut(long id) {
    if (current == null || current.id != id) return;
    books.event(GpuEvent.RECLAIM_ABANDONED, current.ask.modelId(), "reclaim " + id + " did not finish within "
        + policies.reclaimTimeout().toMillis() + " ms; " + current.ask.modelId() + " asks again");
    finish(ModelActor.Outcome.RETRY);
  }

  /** The pool actor restarted (same pool): a negotiation in flight is abandoned. */
  void poolRestarted() {
    books.event(GpuEvent.POOL_RESTARTED, "", "the page pool actor was restarted over the same pool"
        + (current == null ? "" : "; reclaim " + current.id + " for " + current.ask.modelId() + " abandoned, it asks again"));
    if (current != null) finish(ModelActor.Outcome.RETRY);
  }

  /** A model left or restarted: it gives nothing more to the negotiation in flight. */
  void modelGone(String modelId) {
    askAgain.remove(modelId);
    if (current == null) return;
    current.expected.remove(modelId);
    if (!current.planned && current.memories.keySet().containsAll(current.expected)) {
      plan();
    } else if (current.planned && current.givers.remove(modelId) && current.givers.isEmpty()) {
      finish(ModelActor.Outcome.GRANTED);
    }
  }

  private void finish(ModelActor.Outcome outcome) {
    Negotiation n = current;
    current = null;
    timers.cancel("reclaim");
    timers.cancel("gather");
    GpuModels.Entry e = models.apply(n.ask.modelId());
    if (outcome == ModelActor.Outcome.GRANTED) books.granted(n.ask.modelId());
    if (e != null) e.ref.tell(new ModelActor.PagesReady(n.id, outcome));
    for (String id : askAgain) {
      GpuModels.Entry other = models.apply(id);
      if (other != null) other.ref.tell(new ModelActor.PagesReady(-1, ModelActor.Outcome.RETRY));
    }
    askAgain.clear();
  }
}
