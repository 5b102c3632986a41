package io.prism.actors.model;

import io.prism.actors.GpuId;
import io.prism.actors.ModelSpec;
import io.prism.actors.PrismSettings;
import io.prism.actors.frontend.GenerationEvent;
import io.prism.actors.gpu.GpuActor;
import io.prism.actors.pool.PagePoolActor;

import io.prism.runtime.engine.Device;
import io.prism.runtime.engine.ModelEngine;
import io.prism.runtime.memory.PageLease;
import io.prism.runtime.model.LoadedModel;
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
 * actors). The engine loop ({@link ModelStepLoop}) is a chain of {@code Step} self-messages while
 * the engine has work: one engine step per message, so requests, cancellations, pages and the other
 * models of the device interleave with the steps. A step that can schedule nothing is retried after
 * {@code prism.engine.stall-backoff} instead of spinning.
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
 *
 * <p>Its messages are in {@link ModelProtocol} (this class implements it, so {@code ModelActor.Run}
 * names them too); its step, timer and loading messages are its own, below.
 */
public final class ModelActor extends AbstractBehavior<ModelProtocol.Command> implements ModelProtocol {
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

  record RequesterGone(ActorRef<GenerationEvent> requester) implements Command {}

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
  private final ModelStepLoop loop;
  private RuntimeException lastFailure;

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
        loop.ensureStepping();
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
        loop.reportProgress(true);
      }
    });
    this.loop = new ModelStepLoop(ctx.getSelf(), spec.id(), engine, requests, intake, memory, reports, settings, pool, parent, timers,
        e -> lastFailure = e);
    memory.syncReserveWish(); // the pool pre-creates this model's next page id
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Run.class, this::onRun)
        .onMessageEquals(Step.INSTANCE, () -> {
          loop.step();
          return this;
        })
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
            loop.reportProgress(true);
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
          loop.ensureStepping();
          return this;
        })
        .onMessage(HoldAdmissions.class, m -> {
          java.time.Duration feedAgain = intake.hold(m.nanos());
          if (feedAgain != null) timers.startSingleTimer(HoldExpired.INSTANCE, feedAgain);
          return this;
        })
        .onMessageEquals(HoldExpired.INSTANCE, () -> {
          loop.feed();
          loop.ensureStepping();
          return this;
        })
        .onMessage(Cancel.class, m -> {
          if (engine.cancel(m.requestId())) loop.ensureStepping(); // only a requester that got Started knows this actor
          return this;
        })
        .onMessage(RequesterGone.class, this::onRequesterGone)
        .onMessageEquals(Drain.INSTANCE, () -> {
          loop.drain();
          return this;
        })
        .onMessage(HandOver.class, m -> {
          parent.tell(new GpuActor.HandedOver(spec.id(), m.to(), transfer.handOver(m.to(), spec.id())));
          memory.afterStep(); // the pages of the requests handed over may go back
          loop.reportProgress(true); // Drained follows: nothing is left
          return this;
        })
        .onMessage(Resume.class, m -> {
          if (transfer.resume(m.handOver(), spec.id())) {
            loop.feed();
            loop.ensureStepping();
            loop.reportProgress(false);
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
    loop.feed();
    loop.ensureStepping();
    loop.reportProgress(false);
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
    loop.ensureStepping();
    loop.reportProgress(true);
    return this;
  }

  private Behavior<Command> onRequesterGone(RequesterGone g) {
    for (String id : requests.requesterGone(g.requester())) {
      if (engine.cancel(id)) getContext().getLog().debug("Cancelled {}: its requester stopped", id);
    }
    loop.ensureStepping();
    loop.reportProgress(false);
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
