package io.prism.actors.model;

import io.prism.actors.ModelSpec;
import io.prism.actors.PrismSettings;
import io.prism.actors.gpu.GpuActor;
import io.prism.actors.pool.PagePoolActor;

import io.prism.runtime.engine.ModelEngine;
import io.prism.runtime.engine.WeightTier;
import io.prism.runtime.memory.PageLease;
import io.prism.runtime.memory.PhysicalPage;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.policy.MemoryAsk;
import io.prism.runtime.policy.ModelMemory;
import java.time.Duration;
import java.util.List;
import java.util.function.LongSupplier;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * The memory side of one {@link ModelActor}: whether its next step is short of pages and what to
 * do about it, the activation of evicted weights, and the return of pages it no longer needs. The
 * rules (at risk, back-off) are {@link MemoryAsk}'s; the pages themselves come and go by message.
 *
 * <p>Asking: before a step, if the engine wants more pages than its {@link PageLease} holds, the
 * model asks the pool ({@link PagePoolActor.Acquire}) for the difference; the pool grants what it
 * can at once and, when the model may negotiate ({@link MemoryAsk#shouldAsk}), has the GPU actor
 * negotiate the rest, which ends with {@link ModelActor.PagesReady}. The step waits only while its
 * running sequences are short and an answer is pending (else the engine would preempt its own);
 * after an answer the model steps with what it has. After each step the stock the engine does not
 * want goes back to the pool.
 *
 * <p>Activation: the weight bytes accounted at load are reserved by the pool ({@link
 * PagePoolActor.Activate}), through a negotiation if there is no room, then {@link
 * ModelEngine#activate(LoadedModel)}; {@link GpuActor.Activated} reports how long it took since the first
 * request waited for it; with {@code prism.gpu.swap-overhead} (the QLM-like baseline's engine
 * restart) the model steps again only that long after. In the disk tier (the host copy was dropped, {@code HostTier}) the model is
 * read again from its source first, before any GPU memory is reserved. Plain state of the model actor.
 */
final class ModelMemoryClient {
  /** What the model actor does on the client's behalf. */
  interface Actor {
    /** Makes sure a step follows. */
    void stepSoon();

    /** Tries the activation again after {@code delay}. */
    void activateLater(Duration delay);

    /** The weights are back after {@code nanos}, from tier {@code from}. */
    void activated(long nanos, WeightTier from);

    /** Reads the model again from its source ({@link ModelActor.Reloaded} or {@link ModelActor.ReloadFailed} follows). */
    void reload();
  }

  private final ModelEngine engine;
  private final PageLease lease;
  private final PrismSettings settings;
  private final ActorRef<PagePoolActor.Command> pool;
  private final ActorRef<ModelActor.Command> self;
  private final LongSupplier clock;
  private final Actor actor;
  private final MemoryAsk ask;
  private final long weightBytes;
  private ModelSpec spec;
  private boolean acquiring;
  private boolean negotiating;
  private boolean answered;
  private boolean activating;
  private boolean activationNegotiates;
  private long activationStartNanos = -1;
  private boolean reloading;
  private LoadedModel reloaded;
  private long askedAtNanos;
  private int wishSent = -1;
  /** End of the engine restart after an activation ({@code prism.gpu.swap-overhead}); MIN_VALUE: none under way. */
  private long restartUntilNanos = Long.MIN_VALUE;

  ModelMemoryClient(ModelEngine engine, PageLease lease, ModelSpec spec, PrismSettings settings, ActorRef<PagePoolActor.Command> pool,
      ActorRef<ModelActor.Command> self, LongSupplier clock, Actor actor) {
    this.engine = engine;
    this.lease = lease;
    this.spec = spec;
    this.settings = settings;
    this.pool = pool;
    this.self = self;
    this.clock = clock;
    this.actor = actor;
    this.ask = new MemoryAsk(settings.policies().reclaimRetry().toNanos());
    this.weightBytes = lease.weightBytesOf(lease.owner());
  }

  /** New SLO or limits: the lease and the pool take them (a lowered maximum lazily). */
  void spec(ModelSpec s) {
    spec = s;
    int min = engine.weightsResident() ? s.minPages() : 0;
    lease.limits(min, s.poolMaxPages());
    pool.tell(new PagePoolActor.SetLimits(lease.owner(), min, s.maxPages()));
  }

  /**
   * Checks the next step's memory and asks if short (see the class comment).
   *
   * @param oldestWithoutFirstToken arrival of the oldest request in the engine without a first token, or {@link Long#MAX_VALUE}
   * @return true if the step must wait for the pool's or the GPU actor's answer
   */
  boolean holdStep(long oldestWithoutFirstToken) {
    if (restartUntilNanos != Long.MIN_VALUE && clock.getAsLong() < restartUntilNanos) return true; // swap overhead: the timer steps it
    int per = engine.physicalPagesPerPageId();
    int need = engine.pagesWanted() * per;
    int avail = lease.availableTo(lease.owner());
    if (need <= avail) return false;
    int forRunning = Math.min(need, engine.pagesWantedForRunning() * per);
    if (negotiating && clock.getAsLong() - askedAtNanos > 2 * settings.policies().reclaimTimeout().toNanos()) {
      negotiating = false; // the answer was lost (an actor died): every wait has a bound
      ask.answered(false, clock.getAsLong());
    }
    if (acquiring || negotiating) return forRunning > avail;
    if (answered) { // an answer just came: step with what there is (the engine may preempt its own newest)
      answered = false;
      return false;
    }
    long now = clock.getAsLong();
    PagePoolActor.Shortfall shortfall = null;
    if (ask.shouldAsk(now, forRunning)) {
      shortfall = new PagePoolActor.Shortfall(forRunning, MemoryAsk.atRisk(now, oldestWithoutFirstToken, spec.ttftSlo().toNanos()));
      ask.asked(forRunning);
    }
    acquiring = true;
    pool.tell(new PagePoolActor.Acquire(lease.owner(), need - avail, per, shortfall, self));
    return forRunning > avail;
  }

  /**
   * Pages from the pool; {@code capacityPages} is the pool's capacity now; {@code forwarded}: the
   * pool could not cover the ask and the GPU actor negotiates the rest (its PagesReady ends it).
   */
  void granted(List<PhysicalPage> pages, int capacityPages, boolean forwarded) {
    lease.grant(pages);
    lease.capacity(capacityPages);
    if (acquiring) {
      acquiring = false;
      answered = true;
      if (forwarded) {
        negotiating = true;
        askedAtNanos = clock.getAsLong();
      } else if (ask.asking()) {
        ask.answered(false, clock.getAsLong());
      }
    }
    if (!engine.hasWork()) returnUnwanted();
    actor.stepSoon();
  }

  /** The negotiation is over. */
  void ready(ModelActor.Outcome outcome) {
    negotiating = false;
    ask.answered(outcome == ModelActor.Outcome.REFUSED, clock.getAsLong());
    if (activationStartNanos >= 0) {
      if (outcome == ModelActor.Outcome.REFUSED) actor.activateLater(settings.policies().reclaimRetry().plusMillis(1));
      else tryActivate();
    } else {
      answered = outcome != ModelActor.Outcome.RETRY;
      actor.stepSoon();
    }
  }

  /** After a step: the stock its running sequences do not need next goes back to the pool. */
  void afterStep() {
    returnUnwanted();
    syncReserveWish();
  }

  /**
   * Tells the pool the engine's reserve wish ({@link PageLease#reserveWanted()}: its next page id's
   * pages, 0 while evicted) when it changed, so the pool keeps that many pre-created.
   */
  void syncReserveWish() {
    int wish = engine.weightsResident() ? lease.reserveWanted() : 0;
    if (wish != wishSent) {
      wishSent = wish;
      pool.tell(new PagePoolActor.WantReserve(lease.owner(), wish));
    }
  }

  private void returnUnwanted() {
    // keep what the running sequences need next; pages for waiting requests are asked for afresh, so
    // a model with a queue does not sit on pages a stricter neighbour's running sequences need
    int keep = engine.weightsResident() ? engine.pagesWantedForRunning() * engine.physicalPagesPerPageId() : 0;
    List<PhysicalPage> back = lease.takeUnmapped(keep, Integer.MAX_VALUE);
    if (!back.isEmpty()) pool.tell(new PagePoolActor.Return(lease.owner(), back, null));
  }

  /** Starts activating the weights if they are evicted and the engine has requests. */
  void activateIfNeeded() {
    if (!engine.weightsResident() && engine.hasWork() && activationStartNanos < 0) {
      activationStartNanos = clock.getAsLong();
      tryActivate();
    }
  }

  /** Whether an activation is under way (a request waits for the weights; the host copy may be read). */
  boolean activating() {
    return activationStartNanos >= 0;
  }

  /**
   * The model read again from its source (disk tier): the activation goes on with it. The GPU
   * memory is reserved only now, so the file read does not hold it.
   */
  void reloaded(LoadedModel model) {
    reloading = false;
    reloaded = model;
    tryActivate();
  }

  /** The reload failed: the activation is abandoned; the caller fails the waiting requests. */
  void reloadFailed() {
    reloading = false;
    activationStartNanos = -1;
  }

  /**
   * Asks the pool to reserve the weights again (a negotiation makes room if it may ask now); in the
   * disk tier the model is first read again ({@link Actor#reload()}).
   */
  void tryActivate() {
    if (restartUntilNanos != Long.MIN_VALUE) { // the engine restart of a swap (prism.gpu.swap-overhead)
      long left = restartUntilNanos - clock.getAsLong();
      if (left > 0) {
        actor.activateLater(Duration.ofNanos(left));
      } else {
        restartUntilNanos = Long.MIN_VALUE;
        actor.stepSoon();
      }
      return;
    }
    if (negotiating && clock.getAsLong() - askedAtNanos > 2 * settings.policies().reclaimTimeout().toNanos()) {
      negotiating = false; // the answer was lost (an actor died): every wait has a bound
      ask.answered(false, clock.getAsLong());
    }
    if (engine.weightsResident() || activating || negotiating || activationStartNanos < 0 || reloading) return;
    if (engine.weightTier() == WeightTier.DISK && reloaded == null) {
      reloading = true;
      actor.reload();
      return;
    }
    activating = true;
    activationNegotiates = ask.shouldAsk(clock.getAsLong(), 0);
    if (activationNegotiates) ask.asked(0);
    pool.tell(new PagePoolActor.Activate(lease.owner(), weightBytes, spec.minPages(), spec.maxPages(), activationNegotiates, self));
  }

  /**
   * The pool's answer to {@link PagePoolActor.Activate}: with room, the weights are copied back.
   *
   * @throws RuntimeException the device's error if the weights cannot be copied back (the actor
   *     restarts; its cleanup releases the weight bytes)
   */
  void weightsReserved(boolean ok, int capacityPages) {
    activating = false;
    lease.capacity(capacityPages);
    if (ok) {
      if (activationNegotiates) ask.answered(false, clock.getAsLong());
      lease.weightBytes(weightBytes);
      lease.limits(spec.minPages(), spec.poolMaxPages());
      WeightTier from = engine.weightTier();
      LoadedModel source = reloaded;
      reloaded = null;
      engine.activate(from == WeightTier.DISK ? source : null);
      syncReserveWish();
      long took = Math.max(0, clock.getAsLong() - Math.max(0, activationStartNanos));
      activationStartNanos = -1;
      actor.activated(took, from);
      Duration restart = settings.policies().swapOverhead();
      if (restart.isZero()) {
        actor.stepSoon();
      } else { // QLM-like: the serving engine restarts before it steps again
        restartUntilNanos = clock.getAsLong() + restart.toNanos();
        actor.activateLater(restart);
      }
    } else if (activationNegotiates) {
      negotiating = true; // the GPU actor's PagesReady follows
      askedAtNanos = clock.getAsLong();
      actor.activateLater(settings.policies().reclaimTimeout().multipliedBy(2).plusMillis(1)); // in case it never comes
    } else {
      actor.activateLater(settings.policies().reclaimRetry().plusMillis(1));
    }
  }

  /**
   * This model's memory for the GPU actor's reclaim plan: the engine's view with the lease's stock
   * counted as held and empty (it is free for the taking).
   */
  ModelMemory modelMemory(long nowNanos) {
    ModelMemory m = engine.memory().modelMemory(spec.slo(), nowNanos);
    int stock = lease.stockPages();
    return new ModelMemory(m.modelId(), m.slo(), m.resident(), m.heldPages() + stock, m.emptyPages() + stock, m.cachedBlockPages(),
        m.minPages(), m.idleNanos(), m.weightPages(), m.running());
  }
}
