package io.prism.actors.model;

import io.prism.actors.GpuId;
import io.prism.actors.ModelSpec;
import io.prism.actors.PrismMessage;
import io.prism.actors.PrismSettings;
import io.prism.actors.frontend.GenerationEvent;
import io.prism.actors.gpu.GpuActor;
import io.prism.actors.pool.Handover;
import io.prism.actors.pool.PagePoolActor;

import io.prism.runtime.engine.Device;
import io.prism.runtime.engine.GenerationRequest;
import io.prism.runtime.engine.ModelEngine;
import io.prism.runtime.engine.SequenceEvent;
import io.prism.runtime.memory.PageLease;
import io.prism.runtime.memory.PhysicalPage;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.policy.ReclaimAction;
import java.util.List;
import java.util.function.LongSupplier;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.PreRestart;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * One model instance on one device, and the only owner of its state: the runtime's {@link
 * ModelEngine} (queue, continuous batching, block tables), its {@link PageLease} (the pages the
 * device's {@link PagePoolActor} granted it) and its requests; streams each request's tokens to
 * whoever asked (on any node).
 *
 * <p>Runs on its device's one-thread dispatcher (with the device's pool actor and other model
 * actors). The engine loop is a chain of {@code Step} self-messages while the engine has work: one
 * engine step per message, so requests, cancellations, pages and the other models of the device
 * interleave with the steps. A step that can schedule nothing is retried after {@code
 * prism.engine.stall-backoff} instead of spinning.
 *
 * <p><b>Requests</b> arrive admitted ({@link Run}, from the GPU actor's local admission, already
 * tokenized and checked): one hop from the GPU actor to the first step. {@code Started} goes to the
 * requester when the engine takes it; its first token and its end go back to the GPU actor's
 * admission ({@link GpuActor.Progress}) with the model's {@code ModelOutlook}.
 *
 * <p><b>Memory</b> ({@link ModelMemoryClient}): before a step, a model short of pages asks the pool
 * ({@link PagePoolActor.Acquire}); the pool negotiates what it cannot cover with the GPU actor, whose
 * reclaim plans come to the models that give pages up as {@link Reclaim}; they carry them out on
 * their own engines ({@link ModelReclaim}) and return the pages to the pool, which grants them to
 * the requester. An evicted model that gets a request reserves its weights the same way.
 *
 * <p>Life cycle ({@link ModelLoading}): loads the host copy, joins the pool (weights reserved,
 * pages for the prefill-speed measurement), starts the engine and sends {@link GpuActor.ModelReady}.
 * Failure: if a step (or anything else) throws, the GPU actor restarts this actor; before the
 * restart every request ends ({@code Completed(FAILED)} with the cause, queued ones {@code
 * Rejected}), and every page and the weight bytes go back to the pool ({@link PagePoolActor.Leave}).
 * On stop (unload) the same happens with the message "model ... was unloaded".
 *
 * <p>Live migration ({@link ModelTransfer}): a source told to {@link HandOver} at the drain timeout
 * takes its requests out of the engine and gives them to the GPU actor for the target; a target
 * {@link Resume}s each by recompute, and its stream goes on where it was.
 *
 * <p>Cancellation: {@link Cancel}, or the requester stopping (a client that disconnects stops its
 * stream actor, which this actor watches), frees the request's blocks at once.
 */
public final class ModelActor extends AbstractBehavior<ModelActor.Command> {
  /** Messages of the model protocol. */
  public sealed interface Command extends PrismMessage {}

  /** An admitted request (tokenized and checked by the GPU actor): it enters the engine; events go to {@code replyTo}. */
  public record Run(GenerationRequest request, ActorRef<GenerationEvent> replyTo) implements Command {}

  /** Cancels a request; its {@code Completed(CANCELLED)} follows. Unknown ids are ignored. */
  public record Cancel(String requestId) implements Command {}

  /** Stops this instance: requests in flight fail with "unloaded", every page goes back. */
  public enum Shutdown implements Command { INSTANCE }

  /**
   * From the GPU actor (live migration): the model serves elsewhere now; no new request comes. When
   * it has no request left, it tells the GPU actor ({@link GpuActor.Drained}), at once if it has none.
   */
  public enum Drain implements Command { INSTANCE }

  /**
   * From the GPU actor, when a hand-off's drain timeout ends: every request still here continues on
   * {@code to} by recompute ({@link ModelTransfer#handOver}); the answer is {@link GpuActor.HandedOver}.
   */
  public record HandOver(GpuId to) implements Command {}

  /** From the GPU actor: a request a migration's source handed over; it continues here ({@link ModelTransfer#resume}). */
  public record Resume(GpuActor.Resume handOver) implements Command {}

  /** Test hook (fault injection): the actor throws {@code IllegalStateException(message)} when it handles this. */
  public record InjectFault(String message) implements Command {}

  /**
   * From the pool actor: pages for this model (possibly none).
   *
   * @param negotiating the pool could not cover the ask and the GPU actor negotiates the rest
   *     ({@link PagesReady} follows)
   */
  public record PagesGranted(List<PhysicalPage> pages, int capacityPages, boolean negotiating) implements Command, NoSerializationVerificationNeeded {}

  /**
   * From the pool actor: the answer to {@link PagePoolActor.Join}.
   *
   * @param negotiating not joined, and the GPU actor negotiates room for the weights (evicting idle
   *     models): {@link PagesReady} follows, then join again
   */
  public record Joined(boolean ok, String reason, List<PhysicalPage> pages, int capacityPages, boolean negotiating)
      implements Command, NoSerializationVerificationNeeded {}

  /** From the pool actor: the answer to {@link PagePoolActor.Activate}. */
  public record WeightsReserved(boolean ok, int capacityPages) implements Command {}

  /** From the GPU actor: the negotiation this model's shortage started is over. */
  public record PagesReady(long negotiationId, Outcome outcome) implements Command {}

  /** How a negotiation ended. */
  public enum Outcome {
    /** Pages were freed (and granted to it by the pool): step or activate without asking again first. */
    GRANTED,
    /** Nothing could free enough: do not ask again for the same shortage for {@code prism.gpu.reclaim-retry}. */
    REFUSED,
    /** Not decided (another negotiation ran, or this one was abandoned): check again and ask afresh. */
    RETRY
  }

  /**
   * From the GPU actor: carry out {@code actions} (this model's steps of a reclaim plan made for
   * {@code forModel}) on the engine as it is now, and return the pages freed to the pool with a
   * {@link Handover} for {@code grantTo}.
   */
  public record Reclaim(long negotiationId, String forModel, ActorRef<Command> grantTo, int unit, List<ReclaimAction> actions,
      long idleThresholdNanos) implements Command {}

  /** From the GPU actor: evict the weights if still idle at least {@code idleThresholdNanos} with nothing in flight. */
  public record EvictIfIdle(long idleThresholdNanos) implements Command {}

  /** From the GPU actor: reply {@link GpuActor.MemoryReply} with this model's memory for negotiation {@code negotiationId}. */
  public record GetMemory(long negotiationId, ActorRef<GpuActor.Command> replyTo) implements Command {}

  /** Replies with this instance's {@link ModelReport}. */
  public record GetStatus(ActorRef<ModelReport> replyTo) implements Command {}

  /**
   * From the GPU actor: a model with a stricter SLO has a request at risk of its TTFT SLO and no
   * memory for it; for {@code nanos} this model starts no new sequence (its running ones go on).
   */
  public record HoldAdmissions(long nanos, String forModel) implements Command {}

  /**
   * From the node's host tier ({@link HostCopies}): drop the host copy of the weights (the least
   * recently used copies make room); an evicted model falls to the disk tier.
   */
  public enum DropHostCopy implements Command { INSTANCE }

  /** From the GPU actor: new SLO or page limits (a lowered maximum takes effect lazily). */
  public record UpdateSpec(ModelSpec spec) implements Command {}

  /** Admitted requests handed to the engine ahead of its running batch. */
  static final int FEED_AHEAD = 8;

  /** Steps with fewer computed tokens (decode) do not sample the prefill speed. */
  static final int SPEED_SAMPLE_TOKENS = 32;

  enum Step implements Command { INSTANCE }

  enum HoldExpired implements Command { INSTANCE }

  enum ActivationRetry implements Command { INSTANCE }

  record Loaded(LoadedModel model) implements Command, NoSerializationVerificationNeeded {}

  record LoadFailed(String reason) implements Command {}

  /** Loading: time the next prefill-speed pass (one per message, so the device's other models step in between). */
  enum MeasurePass implements Command { INSTANCE }

  /** The model read again from its source for an activation from the disk tier, in {@code readNanos}. */
  record Reloaded(LoadedModel model, long readNanos) implements Command, NoSerializationVerificationNeeded {}

  record ReloadFailed(String reason) implements Command {}

  private record RequesterGone(ActorRef<GenerationEvent> requester) implements Command {}

  /**
   * @param spec the model
   * @param gpu the device's id
   * @param device the local device (driver handle; the KV cache and weights go there)
   * @param pool the device's page pool actor
   * @param store host copies of models
   * @param settings engine options and limits
   * @param clock the device's clock in nanoseconds
   * @param parent the GPU actor
   */
  public static Behavior<Command> create(ModelSpec spec, GpuId gpu, Device device, ActorRef<PagePoolActor.Command> pool, ModelStore store,
      PrismSettings settings, LongSupplier clock, ActorRef<GpuActor.Command> parent) {
    return Behaviors.withStash(settings.maxQueuedRequests(), stash -> Behaviors.withTimers(timers -> Behaviors.setup(ctx -> {
      ctx.pipeToSelf(store.load(spec), (m, e) -> e == null ? new Loaded(m) : new LoadFailed(rootMessage(e)));
      return new ModelLoading(ctx, spec, gpu, device, pool, store, settings, clock, parent, stash, timers).loading();
    })));
  }

  private ModelSpec spec;
  private final ModelEngine engine;
  private final PageLease lease;
  private final PrismSettings settings;
  private final ActorRef<GpuActor.Command> parent;
  private final ActorRef<PagePoolActor.Command> pool;
  private final TimerScheduler<Command> timers;
  private final LongSupplier clock;
  private final ModelRequests requests;
  private final ModelIntake intake;
  private final ModelMemoryClient memory;
  private final ModelReports reports;
  private final ModelTransfer transfer;
  private final HostCopies copies;
  private final ModelStore store;
  private boolean stepScheduled;
  private RuntimeException lastFailure;
  /** 0: serving; 1: draining; 2: drained and reported. */
  private int drain;

  ModelActor(ActorContext<Command> ctx, ModelSpec spec, GpuId gpu, ModelEngine engine, PageLease lease, ActorRef<PagePoolActor.Command> pool,
      ModelStore store, PrismSettings settings, LongSupplier clock, ActorRef<GpuActor.Command> parent, TimerScheduler<Command> timers,
      double prefillSpeed) {
    super(ctx);
    this.store = store;
    this.spec = spec;
    this.engine = engine;
    this.lease = lease;
    this.settings = settings;
    this.parent = parent;
    this.pool = pool;
    this.timers = timers;
    this.clock = clock;
    this.requests = new ModelRequests(ctx, RequesterGone::new);
    this.intake = new ModelIntake(engine, requests, ctx.getSelf(), clock);
    intake.gpu(gpu);
    this.transfer = new ModelTransfer(engine, requests, ctx.getSelf(), gpu, clock);
    this.reports = new ModelReports(engine, lease, settings, prefillSpeed);
    this.copies = new HostCopies(store.hostTier(), gpu.entityId() + "/" + spec.id(), ctx.getSelf(), clock, (long) (engine.weightBytes() / 10.0));
    reports.copies(copies);
    this.memory = new ModelMemoryClient(engine, lease, spec, settings, pool, ctx.getSelf(), clock, new ModelMemoryClient.Actor() {
      @Override
      public void stepSoon() {
        ensureStepping();
      }

      @Override
      public void activateLater(java.time.Duration delay) {
        timers.startSingleTimer(ActivationRetry.INSTANCE, delay);
      }

      @Override
      public void reload() {
        getContext().pipeToSelf(store.reload(spec), (m, e) -> e == null ? new Reloaded(m.model(), m.readNanos()) : new ReloadFailed(rootMessage(e)));
      }

      @Override
      public void activated(long nanos, io.prism.runtime.engine.WeightTier from) {
        copies.activated(engine, from, nanos);
        reports.activated(nanos);
        parent.tell(new GpuActor.Activated(spec.id(), nanos));
        reportProgress(true);
      }
    });
    memory.syncReserveWish(); // the pool pre-creates this model's next page id
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Run.class, this::onRun)
        .onMessageEquals(Step.INSTANCE, this::onStep)
        .onMessage(PagesGranted.class, m -> guarded(() -> memory.granted(m.pages(), m.capacityPages(), m.negotiating())))
        .onMessage(PagesReady.class, m -> guarded(() -> memory.ready(m.outcome())))
        .onMessage(WeightsReserved.class, m -> guarded(() -> memory.weightsReserved(m.ok(), m.capacityPages())))
        .onMessageEquals(ActivationRetry.INSTANCE, () -> guarded(memory::tryActivate))
        .onMessage(Reclaim.class, this::onReclaim)
        .onMessageEquals(DropHostCopy.INSTANCE, () -> guarded(() -> copies.dropAsked(engine, memory.activating())))
        .onMessage(Reloaded.class, m -> guarded(() -> memory.reloaded(m.model())))
        .onMessage(ReloadFailed.class, m -> {
          memory.reloadFailed();
          lastFailure = new IllegalStateException("model '" + spec.id() + "' could not be read again from " + spec.source() + ": " + m.reason());
          throw lastFailure;
        })
        .onMessage(EvictIfIdle.class, m -> {
          if (ModelReclaim.evictIfIdle(engine, lease, pool, spec.id(), clock.getAsLong(), m.idleThresholdNanos(), copies)) {
            memory.syncReserveWish();
            reportProgress(true);
          }
          return this;
        })
        .onMessage(GetMemory.class, m -> {
          m.replyTo().tell(new GpuActor.MemoryReply(m.negotiationId(), spec.id(), memory.modelMemory(clock.getAsLong())));
          return this;
        })
        .onMessage(GetStatus.class, m -> {
          m.replyTo().tell(reports.report(spec, clock.getAsLong(), requests.pending.size()));
          return this;
        })
        .onMessage(UpdateSpec.class, m -> {
          spec = m.spec();
          memory.spec(spec);
          ensureStepping();
          return this;
        })
        .onMessage(HoldAdmissions.class, m -> {
          java.time.Duration feedAgain = intake.hold(m.nanos());
          if (feedAgain != null) timers.startSingleTimer(HoldExpired.INSTANCE, feedAgain);
          return this;
        })
        .onMessageEquals(HoldExpired.INSTANCE, () -> {
          feedEngine();
          ensureStepping();
          return this;
        })
        .onMessage(Cancel.class, m -> {
          if (engine.cancel(m.requestId())) ensureStepping(); // only a requester that got Started knows this actor
          return this;
        })
        .onMessage(RequesterGone.class, this::onRequesterGone)
        .onMessageEquals(Drain.INSTANCE, () -> {
          drain = Math.max(drain, 1);
          reportProgress(true);
          return this;
        })
        .onMessage(HandOver.class, m -> {
          parent.tell(new GpuActor.HandedOver(spec.id(), m.to(), transfer.handOver(m.to(), spec.id())));
          memory.afterStep(); // the pages of the requests handed over may go back
          reportProgress(true); // Drained follows: nothing is left
          return this;
        })
        .onMessage(Resume.class, m -> {
          if (transfer.resume(m.handOver(), spec.id())) {
            feedEngine();
            ensureStepping();
            reportProgress(false);
          }
          return this;
        })
        .onMessageEquals(Shutdown.INSTANCE, Behaviors::stopped)
        .onMessage(InjectFault.class, m -> {
          lastFailure = new IllegalStateException("injected fault: " + m.message());
          throw lastFailure;
        })
        .onSignal(PreRestart.class, s -> cleanup("model '" + spec.id() + "' failed and is restarting: "
            + (lastFailure == null ? "unknown failure" : rootMessage(lastFailure))))
        .onSignal(PostStop.class, s -> cleanup("model '" + spec.id() + "' was unloaded"))
        .build();
  }

  private Behavior<Command> onRun(Run r) {
    if (requests.knows(r.request().requestId())) {
      r.replyTo().tell(new GenerationEvent.Rejected(r.request().requestId(),
          new io.prism.runtime.engine.Rejection.InvalidRequest(null, "request id " + r.request().requestId() + " is already in flight")));
      return this;
    }
    requests.addPending(r.request(), r.replyTo());
    intake.admit(r.request().requestId());
    feedEngine();
    ensureStepping();
    reportProgress(false);
    return this;
  }

  /** Hands admitted requests to the engine ({@link ModelIntake#feed}), then activates the weights if needed. */
  private void feedEngine() {
    intake.feed(spec.id());
    guarded(memory::activateIfNeeded);
  }

  private Behavior<Command> onStep() {
    stepScheduled = false;
    if (!engine.weightsResident()) {
      requests.deliver(engine.step()); // cancellations while evicted; nothing runs
      reportProgress(false);
      return this; // Step resumes when the activation is done
    }
    if (memory.holdStep(requests.oldestWithoutFirstToken())) return this;
    long stalledBefore = engine.stats().stalledSteps();
    long computedBefore = engine.stats().computedTokens();
    long t0 = System.nanoTime();
    List<SequenceEvent> events;
    try {
      events = engine.step();
    } catch (RuntimeException e) {
      lastFailure = e;
      throw e;
    }
    long took = System.nanoTime() - t0;
    boolean stalled = engine.stats().stalledSteps() > stalledBefore;
    reports.observeStep(engine.stats().computedTokens() - computedBefore, took, stalled);
    requests.deliver(events);
    memory.afterStep();
    // a step that computed nothing (no pages yet: retried after the stall back-off) is no forward pass: not traced
    if (settings.policies().traceSteps() > 0 && !stalled) pool.tell(new PagePoolActor.Stepped(spec.id()));
    reports.checkInvariants(settings.policies().checkInvariants(), "step");
    feedEngine();
    if (engine.hasWork()) {
      stepScheduled = true;
      if (stalled && events.isEmpty()) timers.startSingleTimer(Step.INSTANCE, settings.stallBackoff());
      else getContext().getSelf().tell(Step.INSTANCE);
    }
    reportProgress(false);
    return this;
  }

  private Behavior<Command> onReclaim(Reclaim r) {
    try {
      ModelReclaim.execute(engine, lease, pool, spec.id(), r, clock.getAsLong(), copies);
    } catch (RuntimeException e) {
      lastFailure = e;
      throw e;
    }
    reports.checkInvariants(settings.policies().checkInvariants(), "reclaim for " + r.forModel());
    memory.syncReserveWish();
    ensureStepping();
    reportProgress(true);
    return this;
  }

  private Behavior<Command> onRequesterGone(RequesterGone g) {
    for (String id : requests.requesterGone(g.requester())) {
      if (engine.cancel(id)) getContext().getLog().debug("Cancelled {}: its requester stopped", id);
    }
    ensureStepping();
    reportProgress(false);
    return this;
  }

  /** Runs {@code r}, keeping a failure as the cause the restart reports. */
  private Behavior<Command> guarded(Runnable r) {
    try {
      r.run();
    } catch (RuntimeException e) {
      lastFailure = e;
      throw e;
    }
    return this;
  }

  private void ensureStepping() {
    if (!stepScheduled && engine.hasWork()) {
      stepScheduled = true;
      getContext().getSelf().tell(Step.INSTANCE);
    }
  }

  /** Sends first tokens and ended requests (and the outlook) to the GPU actor's admission; {@code always}: even with none. */
  private void reportProgress(boolean always) {
    GpuActor.Progress p = requests.takeProgress(spec.id(), always, () -> reports.outlook(spec.id(), requests));
    if (p != null) parent.tell(p);
    if (drain == 1 && requests.size() == 0) {
      drain = 2;
      parent.tell(new GpuActor.Drained(spec.id()));
    }
  }

  /** Ends every request (in flight: FAILED; queued: rejected), returns every page and the weights, leaves the device. */
  private Behavior<Command> cleanup(String message) {
    try {
      requests.deliver(engine.failAll(message));
    } catch (RuntimeException e) {
      getContext().getLog().error("Model {}: failing its requests threw", spec.id(), e);
    }
    requests.failRemaining(message);
    try {
      engine.close();
    } catch (RuntimeException e) {
      getContext().getLog().error("Model {} could not return its pages", spec.id(), e);
    }
    copies.release(); // the engine freed its host copy with its backend
    pool.tell(new PagePoolActor.Leave(spec.id(), lease.takeUnmapped(0, Integer.MAX_VALUE)));
    getContext().getLog().info("Model {} left its GPU: {}", spec.id(), message);
    return this;
  }

  static String rootMessage(Throwable e) {
    Throwable t = e;
    while ((t instanceof java.util.concurrent.CompletionException || t instanceof java.util.concurrent.ExecutionException) && t.getCause() != null) {
      t = t.getCause();
    }
    return t.getMessage() != null ? t.getMessage() : t.getClass().getSimpleName();
  }
}
