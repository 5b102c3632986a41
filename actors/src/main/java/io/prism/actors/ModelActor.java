package io.prism.actors;

import io.prism.runtime.engine.GenerationRequest;
import io.prism.runtime.engine.ModelEngine;
import io.prism.runtime.engine.Rejection;
import io.prism.runtime.engine.SequenceEvent;
import io.prism.runtime.memory.PagePool;
import io.prism.runtime.model.LoadedModel;
import java.util.List;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.PreRestart;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.StashBuffer;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * One model instance on one device: its requests, continuous batching through the runtime's {@link
 * ModelEngine}, and its side of the device's memory coordination; streams each request's tokens to
 * whoever asked (on any node).
 *
 * <p>Runs on its device's one-thread dispatcher (with the device's {@link PagePoolActor} and other
 * model actors). The engine loop is a chain of {@code Step} self-messages while the engine has
 * work: one engine step per message, so requests, cancellations, reclaim and the other models of
 * the device interleave with the steps. A step that can schedule nothing is retried after {@code
 * prism.engine.stall-backoff} instead of spinning.
 *
 * <p><b>Admission.</b> A request is tokenized and checked ({@link ModelEngine#check}); one that can
 * never run is rejected at once. Otherwise it waits for the GPU's local admission: {@link
 * GpuActor.Enqueue} goes to the GPU actor, which answers {@link Admit} (the request enters the
 * engine and {@code Started} goes to the requester) or {@link Drop} ({@code Rejected}: it cannot
 * meet its TTFT SLO).
 *
 * <p><b>Memory</b> ({@link ModelMemoryClient}): before a step, a model short of pages takes other
 * models' empty pages and cached blocks at once, else negotiates with the GPU actor ({@link
 * GpuActor.NeedPages}, {@link PagesReady}); a model with a stricter SLO can make it pause starting
 * new sequences ({@link HoldAdmissions}). An evicted model that gets a request is activated through
 * the same path; the requests wait, so their TTFT includes the activation.
 *
 * <p>Life cycle: loads the host copy of the model (blocking IO off the device thread), starts the
 * engine ({@link ModelEngines#start}) and sends {@link GpuActor.ModelReady}; requests that arrive
 * meanwhile are stashed. If anything fails, the GPU actor gets {@link GpuActor.ModelLoadFailed} and
 * this actor stops.
 *
 * <p>Failure: if a step (or anything else) throws, the GPU actor restarts this actor. Before the
 * restart every request in flight ends with a {@link GenerationEvent.Completed} of reason {@code
 * FAILED} carrying the cause (queued ones with {@code Rejected}), the engine returns every page to
 * the pool and the weights are released; the new instance loads again and serves the requests still
 * in the mailbox. On stop (unload) the same happens with the message "model ... was unloaded".
 *
 * <p>Cancellation: {@link Cancel}, or the requester stopping (a client that disconnects stops its
 * stream actor, which this actor watches), frees the request's blocks at once.
 */
public final class ModelActor extends AbstractBehavior<ModelActor.Command> {
  /** Messages of the model protocol. */
  public sealed interface Command extends PrismMessage {}

  /** Serve {@code request}; events go to {@code replyTo}. */
  public record Generate(GenerateRequest request, ActorRef<GenerationEvent> replyTo) implements Command {}

  /** Cancels a request; its {@code Completed(CANCELLED)} follows. Unknown ids are ignored. */
  public record Cancel(String requestId) implements Command {}

  /** Stops this instance: requests in flight fail with "unloaded", every page goes back. */
  public enum Shutdown implements Command {
    INSTANCE
  }

  /** Test hook (fault injection): the actor throws {@code IllegalStateException(message)} when it handles this. */
  public record InjectFault(String message) implements Command {}

  /** From the GPU actor: local admission admitted these queued requests; they enter the engine. */
  public record Admit(List<String> requestIds) implements Command {}

  /** From the GPU actor: local admission rejected this queued request ({@code reason} goes to the client, 503). */
  public record Drop(String requestId, String reason) implements Command {}

  /** From the GPU actor: the negotiation this model asked for is over. */
  public record PagesReady(long negotiationId, Outcome outcome) implements Command {}

  /** How a negotiation ended. */
  public enum Outcome {
    /** Pages were freed: step (or activate) without asking again first. */
    GRANTED,
    /** Nothing could free enough: do not ask again for the same shortage for {@code prism.gpu.reclaim-retry}. */
    REFUSED,
    /** Not decided (another negotiation ran, or this one was abandoned): check again and ask with a fresh snapshot. */
    RETRY
  }

  /**
   * From the GPU actor: a model with a stricter SLO has a request at risk of its TTFT SLO and no
   * memory for it; for {@code nanos} this model starts no new sequence (its running ones go on),
   * so the memory its sequences free flows to the stricter model.
   */
  public record HoldAdmissions(long nanos, String forModel) implements Command {}

  /** From the GPU actor: new SLO or page limits (a lowered maximum takes effect lazily). */
  public record UpdateSpec(ModelSpec spec) implements Command {}

  /**
   * Fraction of its TTFT SLO a request may wait for its first token before its prefill counts as at
   * risk: from then on the model's reclaim may preempt the decodes of models with a strictly looser
   * SLO (a prefill otherwise waits for memory).
   */
  static final double TTFT_AT_RISK = 0.5;

  /** Admitted requests handed to the engine ahead of its running batch. */
  static final int FEED_AHEAD = 8;

  enum Step implements Command {
    INSTANCE
  }

  private enum HoldExpired implements Command {
    INSTANCE
  }

  enum ActivationRetry implements Command {
    INSTANCE
  }

  record Loaded(LoadedModel model) implements Command, NoSerializationVerificationNeeded {}

  record LoadFailed(String reason) implements Command {}

  private record RequesterGone(ActorRef<GenerationEvent> requester) implements Command {}

  /**
   * @param spec the model
   * @param runtime the device's engine-thread state (this node only)
   * @param store host copies of models
   * @param settings engine options and limits
   * @param parent the GPU actor
   */
  public static Behavior<Command> create(ModelSpec spec, GpuRuntime runtime, ModelStore store, PrismSettings settings,
      ActorRef<GpuActor.Command> parent) {
    return Behaviors.withStash(settings.maxQueuedRequests(), stash -> Behaviors.withTimers(timers -> Behaviors.setup(ctx -> {
      ctx.pipeToSelf(store.load(spec), (m, e) -> e == null ? new Loaded(m) : new LoadFailed(rootMessage(e)));
      return ModelLoading.loading(ctx, spec, runtime, settings, parent, stash, timers);
    })));
  }

  private ModelSpec spec;
  private final GpuRuntime runtime;
  private final PrismSettings settings;
  private final ActorRef<GpuActor.Command> parent;
  private final TimerScheduler<Command> timers;
  private final ModelEngine engine;
  private final ModelRequests requests;
  private boolean stepScheduled;
  private final ModelMemoryClient memory;
  private final ModelIntake intake;
  private RuntimeException lastFailure;

  ModelActor(ActorContext<Command> ctx, ModelSpec spec, GpuRuntime runtime, PrismSettings settings, ActorRef<GpuActor.Command> parent,
      TimerScheduler<Command> timers, ModelEngine engine) {
    super(ctx);
    this.spec = spec;
    this.runtime = runtime;
    this.settings = settings;
    this.parent = parent;
    this.timers = timers;
    this.engine = engine;
    this.requests = new ModelRequests(ctx, RequesterGone::new);
    this.intake = new ModelIntake(runtime, settings, engine, requests, ctx.getSelf());
    this.memory = new ModelMemoryClient(runtime, engine, spec, settings, parent, new ModelMemoryClient.Actor() {
      @Override
      public void stepSoon() {
        ensureStepping();
      }

      @Override
      public void activateLater(java.time.Duration delay) {
        timers.startSingleTimer(ActivationRetry.INSTANCE, delay);
      }
    });
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Generate.class, this::onGenerate)
        .onMessage(Admit.class, this::onAdmit)
        .onMessage(Drop.class, this::onDrop)
        .onMessageEquals(Step.INSTANCE, this::onStep)
        .onMessage(PagesReady.class, this::onPagesReady)
        .onMessageEquals(ActivationRetry.INSTANCE, () -> {
          guarded(memory::tryActivate);
          return this;
        })
        .onMessage(UpdateSpec.class, this::onUpdateSpec)
        .onMessage(HoldAdmissions.class, this::onHold)
        .onMessageEquals(HoldExpired.INSTANCE, () -> {
          feedEngine();
          ensureStepping();
          return this;
        })
        .onMessage(Cancel.class, this::onCancel)
        .onMessage(RequesterGone.class, this::onRequesterGone)
        .onMessageEquals(Shutdown.INSTANCE, Behaviors::stopped)
        .onMessage(InjectFault.class, this::onInjectFault)
        .onSignal(PreRestart.class, s -> cleanup("model '" + spec.id() + "' failed and is restarting: "
            + (lastFailure == null ? "unknown failure" : rootMessage(lastFailure))))
        .onSignal(PostStop.class, s -> cleanup("model '" + spec.id() + "' was unloaded"))
        .build();
  }

  private Behavior<Command> onGenerate(Generate g) {
    GenerationRequest request = intake.accept(g, spec.id());
    if (request != null) parent.tell(new GpuActor.Enqueue(spec.id(), request.requestId(), request.arrivalNanos(), request.promptTokens().length));
    return this;
  }

  private Behavior<Command> onAdmit(Admit a) {
    intake.admit(a.requestIds());
    feedEngine();
    ensureStepping();
    reportProgress();
    return this;
  }

  /** Hands admitted requests to the engine ({@link ModelIntake#feed}), then activates the weights if needed. */
  private void feedEngine() {
    intake.feed(spec.id());
    guarded(memory::activateIfNeeded);
  }

  private Behavior<Command> onHold(HoldAdmissions h) {
    java.time.Duration feedAgain = intake.hold(h.nanos());
    if (feedAgain != null) timers.startSingleTimer(HoldExpired.INSTANCE, feedAgain);
    return this;
  }

  private Behavior<Command> onDrop(Drop d) {
    ModelRequests.Pending p = requests.pending.get(d.requestId());
    if (p != null) requests.reject(p, new Rejection.SloUnattainable("model '" + spec.id() + "': " + d.reason(), -1, spec.ttftSlo().toMillis()));
    reportProgress();
    return this;
  }

  private Behavior<Command> onStep() {
    runtime.checkThread();
    stepScheduled = false;
    if (!engine.weightsResident()) {
      requests.deliver(engine.step()); // cancellations while evicted; nothing runs
      reportProgress();
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
    memory.observeSpeed(engine.stats().computedTokens() - computedBefore, System.nanoTime() - t0);
    requests.deliver(events);
    runtime.afterStep(spec.id());
    feedEngine();
    boolean stalled = engine.stats().stalledSteps() > stalledBefore;
    GpuRuntime.EngineEntry entry = runtime.entry(spec.id());
    if (entry != null) {
      if (!stalled) entry.stalledSinceNanos = -1;
      else if (entry.stalledSinceNanos < 0) entry.stalledSinceNanos = System.nanoTime();
    }
    if (engine.hasWork()) {
      stepScheduled = true;
      if (stalled && events.isEmpty()) timers.startSingleTimer(Step.INSTANCE, settings.stallBackoff());
      else getContext().getSelf().tell(Step.INSTANCE);
    }
    PagePool pool = runtime.pool();
    if (pool.reservePages() < pool.reserveTarget() && pool.freePages() > pool.reservePages() && runtime.poolActor() != null) {
      runtime.poolActor().tell(PagePoolActor.RefillReserve.INSTANCE);
    }
    reportProgress();
    return this;
  }

  private Behavior<Command> onPagesReady(PagesReady r) {
    guarded(() -> memory.pagesReady(r.outcome()));
    return this;
  }

  /** Runs {@code r}, keeping a failure as the cause the restart reports. */
  private void guarded(Runnable r) {
    try {
      r.run();
    } catch (RuntimeException e) {
      lastFailure = e;
      throw e;
    }
  }

  private Behavior<Command> onUpdateSpec(UpdateSpec u) {
    spec = u.spec();
    memory.spec(spec);
    ensureStepping();
    return this;
  }

  private Behavior<Command> onCancel(Cancel c) {
    if (engine.cancel(c.requestId())) ensureStepping();
    return this;
  }

  private Behavior<Command> onRequesterGone(RequesterGone g) {
    for (String id : requests.requesterGone(g.requester())) {
      if (engine.cancel(id)) getContext().getLog().debug("Cancelled {}: its requester stopped", id);
    }
    ensureStepping();
    reportProgress();
    return this;
  }

  private Behavior<Command> onInjectFault(InjectFault f) {
    lastFailure = new IllegalStateException("injected fault: " + f.message());
    throw lastFailure;
  }

  /** Steps with fewer computed tokens (decode) do not sample the prefill speed. */
  static final int SPEED_SAMPLE_TOKENS = 32;

  private void ensureStepping() {
    if (!stepScheduled && engine.hasWork()) {
      stepScheduled = true;
      getContext().getSelf().tell(Step.INSTANCE);
    }
  }

  private void reportProgress() {
    GpuActor.Progress p = requests.takeProgress(spec.id());
    if (p != null) parent.tell(p);
  }

  /** Ends every request (in flight: FAILED; queued: rejected), returns every page and the weights, leaves the device. */
  private Behavior<Command> cleanup(String message) {
    PagePool pool = runtime.pool();
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
      runtime.markFaulty("model " + spec.id() + " could not return its pages: " + rootMessage(e));
    }
    if (pool.weightBytesOf(engine.owner()) > 0) pool.releaseWeights(engine.owner());
    pool.setLimits(engine.owner(), 0, Integer.MAX_VALUE);
    runtime.deregister(spec.id());
    runtime.checkConservation("model " + spec.id() + " left");
    getContext().getLog().info("Model {} left {}: {}", spec.id(), runtime.gpu(), message);
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
