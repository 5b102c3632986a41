package io.prism.actors;

import io.prism.runtime.engine.Device;
import io.prism.runtime.engine.Rejection;
import io.prism.runtime.policy.ModelMemory;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.LongSupplier;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.StashBuffer;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;

/**
 * One device: a Cluster Sharding entity (id {@link GpuId#entityId()}, kept on the device's own node
 * by {@link io.prism.actors.sharding.NodeBoundAllocationStrategy}). It owns the device's memory
 * budget through its {@link PagePoolActor} child and one {@link ModelActor} child per model
 * instance, routes requests to them, restarts a model actor that fails, and reports memory and
 * resident models to the {@link GlobalPlacementActor} every {@code prism.gpu.report-interval} and
 * after every change.
 *
 * <p>It is the device's local scheduler (issue 5; decisions in {@link GpuScheduler}): local admission across
 * its models by TTFT deadline ({@link LocalAdmission}), the reclaim negotiation between its models
 * when one is short of pages ({@code ReclaimPolicy}), idle eviction on a timer ({@code
 * IdleEvictionPolicy}), and the books and recent events of those decisions ({@link GpuBooks}).
 *
 * <p>Threading: this actor runs on the default dispatcher and never touches the device; its
 * children do, on the device's one-thread dispatcher {@code prism.gpu.dispatchers.gpu-<index>}: the
 * model actors report snapshots and ask, this actor decides, the pool actor carries out.
 *
 * <p>Failure: a failing model actor is restarted (see {@link ModelActor}), a failing pool actor
 * resumed, a stopped pool actor started again over the same pool (its reclaim in flight is
 * abandoned; the requester asks again). This actor only keeps books, and if it throws it is resumed
 * rather than restarted: a restart would stop its children in no defined order and rebuild the pool
 * over a device whose pages the old model actors might still be returning.
 */
public final class GpuActor extends AbstractBehavior<GpuActor.Command> {
  /** Sharding entity type of GPU actors. */
  public static final EntityTypeKey<Command> TYPE_KEY = EntityTypeKey.create(Command.class, "prism-gpu");

  /** Messages of the GPU protocol. */
  public sealed interface Command extends PrismMessage {}

  /** Starts the entity (sent by its node at start-up; any message would). */
  public enum Wake implements Command {
    INSTANCE
  }

  /** Loads {@code spec} on this device; replies once it serves or cannot. */
  public record LoadModel(ModelSpec spec, ActorRef<LoadReply> replyTo) implements Command {}

  /** Unloads a model: its requests in flight fail, its pages and weights go back. */
  public record UnloadModel(String modelId) implements Command {}

  /** New SLOs or page limits for a model on this device (a lowered maximum takes effect lazily). */
  public record UpdateModel(ModelSpec spec) implements Command {}

  /**
   * Routes a request to the model's actor. If the model is not here, the request goes back to
   * {@code frontend} (to resolve again) or, without one, is rejected. An evicted model is still
   * here: the request reactivates it.
   *
   * @param attempt how many times the request was routed before
   */
  public record Generate(GenerateRequest request, ActorRef<GenerationEvent> replyTo, ActorRef<Frontend.Command> frontend, int attempt)
      implements Command {}

  /** Replies with the device's {@link GpuStatus}. */
  public record GetStatus(ActorRef<GpuStatus> replyTo) implements Command {}

  /** Checks for idle models to evict now (sent by its own timer; a test hook after moving the clock). */
  public enum EvictIdleModels implements Command {
    INSTANCE
  }

  /** Replies with the recent per-step memory samples ({@code prism.gpu.trace-steps}). */
  public record GetTrace(ActorRef<StepTrace> replyTo) implements Command {}

  /** Test hook: makes the model's actor throw (it is restarted). */
  public record InjectModelFault(String modelId, String message) implements Command {}

  /** Test hook: makes the page pool actor throw (it is resumed). */
  public record InjectPoolFault(String message) implements Command {}

  /**
   * Test hook (fault injection in the middle of a reclaim): with the next reclaim plan that has
   * steps, {@code target} fails. {@code target} {@value #POOL}: the pool actor carries out the first
   * step, then {@code mode} {@code "stop"} stops it or {@code "throw"} throws (resumed); otherwise
   * {@code target} is a model id whose actor is crashed while the plan is in flight.
   */
  public record InjectReclaimFault(String target, String mode) implements Command {}

  /** {@link InjectReclaimFault#target()} naming the page pool actor. */
  public static final String POOL = "page-pool";

  /** Outcome of {@link LoadModel}. */
  public sealed interface LoadReply extends PrismMessage {
    GpuId gpu();

    String modelId();
  }

  /** Loaded and serving, with its context length and the weight bytes it takes from the budget. */
  public record ModelLoaded(GpuId gpu, String modelId, int maxModelLen, long weightBytes) implements LoadReply {}

  /** Could not be loaded here; {@code reason} says why (e.g. not enough memory). */
  public record LoadFailed(GpuId gpu, String modelId, String reason) implements LoadReply {}

  /** From the pool actor: the device's runtime exists (node-local). */
  record PoolReady(GpuRuntime runtime) implements Command, NoSerializationVerificationNeeded {}

  /** From the pool actor: a snapshot for {@code replyTo} (null: for the report and the idle check). */
  record PoolSnapshot(GpuStatus status, ActorRef<GpuStatus> replyTo) implements Command {}

  /** From the pool actor: what each step of negotiation {@code negotiationId}'s plan did. */
  record Reclaimed(long negotiationId, String forModel, List<ReclaimExecutor.Result> results) implements Command {}

  /** From the pool actor: what the idle evictions did. */
  record IdleEvicted(List<ReclaimExecutor.Result> results) implements Command {}

  /** From a model actor: its prefill speed, refined from its steps (local admission's estimate). */
  record PrefillSpeed(String modelId, double tokensPerSecond) implements Command {}

  /** From a model actor: loaded and serving (again, after a restart), with its measured prefill speed. */
  record ModelReady(String modelId, int maxModelLen, long weightBytes, double prefillTokensPerSecond) implements Command {}

  /** From a model actor: could not load; it stops. */
  record ModelLoadFailed(String modelId, String reason) implements Command {}

  /** From a model actor: a checked request waits for local admission. */
  record Enqueue(String modelId, String requestId, long arrivalNanos, int promptTokens) implements Command {}

  /** From a model actor: requests that emitted their first token and requests that ended since its last report. */
  record Progress(String modelId, List<String> firstTokens, List<String> ended) implements Command {}

  /**
   * From a model actor: it needs {@code pagesNeeded} pages the pool cannot give it.
   *
   * @param pagesNeeded pages for its next step: running sequences and the waiting ones it would admit
   * @param pagesForRunning of those, pages its running sequences need (decode cannot wait: they may
   *     preempt); when all of {@code pagesNeeded} cannot be had, these alone are negotiated
   * @param prefillAtRisk a request of it has waited for its first token at least {@link
   *     ModelActor#TTFT_AT_RISK} of its TTFT SLO: its prefill may preempt decodes of models with a
   *     strictly looser SLO
   * @param forWeights the pages are for its weights (activation)
   * @param freePages pool pages it could get outside the reserve, when it asked
   * @param reservePages reserve pages it could get
   * @param memories every model's memory on the device when it asked
   */
  record NeedPages(String modelId, int pagesNeeded, int pagesForRunning, boolean prefillAtRisk, boolean forWeights, int freePages, int reservePages,
      List<ModelMemory> memories) implements Command {}

  /** From a model actor: its evicted weights are back; the activation took {@code nanos}. */
  record Activated(String modelId, long nanos) implements Command {}

  /** Timer: negotiation {@code negotiationId} did not finish in time. */
  record ReclaimTimedOut(long negotiationId) implements Command {}

  /** The pool actor stopped. */
  record PoolStopped(ActorRef<PagePoolActor.Command> pool) implements Command {}

  /** A model actor stopped. */
  record ModelStopped(String modelId, ActorRef<ModelActor.Command> ref) implements Command {}

  /** Timer: time to report. */
  enum ReportTick implements Command {
    INSTANCE
  }

  /** As {@link #create(GpuId, Device, ModelStore, PrismSettings, ActorRef, LongSupplier)} on {@link System#nanoTime()}. */
  public static Behavior<Command> create(GpuId gpu, Device device, ModelStore store, PrismSettings settings,
      ActorRef<GlobalPlacementActor.Command> placement) {
    return create(gpu, device, store, settings, placement, System::nanoTime);
  }

  /**
   * @param gpu this device's id (its node must be the local one)
   * @param device the local device
   * @param store host copies of models
   * @param settings node settings
   * @param placement the placement singleton (proxy)
   * @param clock the device's monotonic clock in nanoseconds (engines' activity, request arrivals,
   *     deadlines, idle times); {@link System#nanoTime()} outside tests, which move it forward to
   *     make models idle without waiting
   */
  public static Behavior<Command> create(GpuId gpu, Device device, ModelStore store, PrismSettings settings,
      ActorRef<GlobalPlacementActor.Command> placement, LongSupplier clock) {
    return Behaviors.<Command>supervise(Behaviors.withStash(10_000, stash -> Behaviors.withTimers(timers -> Behaviors.setup(ctx -> {
      long incarnation = ThreadLocalRandom.current().nextLong();
      ActorRef<PagePoolActor.Command> pool = ctx.spawn(
          Behaviors.supervise(PagePoolActor.create(gpu, device, settings.memoryBudgetBytes(), settings.reservePages(), incarnation,
              settings.stallTimeout(), clock, settings.policies(), ctx.getSelf())).onFailure(SupervisorStrategy.resume()),
          "page-pool", DispatcherSelector.fromConfig(PrismSettings.dispatcherId(device.index())));
      ctx.watchWith(pool, new PoolStopped(pool));
      return waitingForPool(ctx, gpu, store, settings, placement, pool, incarnation, stash, timers, clock);
    })))).onFailure(SupervisorStrategy.resume());
  }

  private static Behavior<Command> waitingForPool(ActorContext<Command> ctx, GpuId gpu, ModelStore store, PrismSettings settings,
      ActorRef<GlobalPlacementActor.Command> placement, ActorRef<PagePoolActor.Command> pool, long incarnation,
      StashBuffer<Command> stash, TimerScheduler<Command> timers, LongSupplier clock) {
    return Behaviors.receive(Command.class)
        .onMessage(PoolReady.class, m -> {
          ctx.getLog().info("GPU {} is up: {} with {} bytes", gpu, m.runtime().device().description(), settings.memoryBudgetBytes());
          timers.startTimerWithFixedDelay(ReportTick.INSTANCE, settings.reportInterval());
          ctx.getSelf().tell(ReportTick.INSTANCE);
          return stash.unstashAll(new GpuActor(ctx, gpu, m.runtime(), store, settings, placement, pool, incarnation, timers, clock));
        })
        .onAnyMessage(m -> {
          if (!(m instanceof Wake)) stash.stash(m);
          return Behaviors.same();
        })
        .build();
  }

  private final GpuId gpu;
  private final GpuRuntime runtime;
  private final PrismSettings settings;
  private final ActorRef<GlobalPlacementActor.Command> placement;
  private ActorRef<PagePoolActor.Command> pool;
  private final long incarnation;
  private final GpuModels models;
  private final GpuScheduler scheduler;
  private int pools;

  private GpuActor(ActorContext<Command> ctx, GpuId gpu, GpuRuntime runtime, ModelStore store, PrismSettings settings,
      ActorRef<GlobalPlacementActor.Command> placement, ActorRef<PagePoolActor.Command> pool, long incarnation, TimerScheduler<Command> timers,
      LongSupplier clock) {
    super(ctx);
    this.gpu = gpu;
    this.runtime = runtime;
    this.settings = settings;
    this.placement = placement;
    this.pool = pool;
    this.incarnation = incarnation;
    this.models = new GpuModels(ctx, gpu, runtime, store, settings, placement);
    this.scheduler = new GpuScheduler(ctx, gpu, settings.policies(), timers, clock, models::get, models::ids, pool);
    models.scheduler(scheduler);
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessageEquals(Wake.INSTANCE, () -> this)
        .onMessage(LoadModel.class, m -> {
          models.loadModel(m);
          return this;
        })
        .onMessage(UnloadModel.class, m -> {
          models.unloadModel(m);
          return this;
        })
        .onMessage(UpdateModel.class, m -> {
          models.updateModel(m);
          return this;
        })
        .onMessage(Generate.class, this::onGenerate)
        .onMessage(GetStatus.class, m -> tellPool(new PagePoolActor.Snapshot(m.replyTo())))
        .onMessage(PoolSnapshot.class, this::onPoolSnapshot)
        .onMessageEquals(EvictIdleModels.INSTANCE, () -> tellPool(new PagePoolActor.Snapshot(null)))
        .onMessage(GetTrace.class, m -> tellPool(new PagePoolActor.GetTrace(m.replyTo())))
        .onMessage(InjectModelFault.class, m -> {
          GpuModels.Entry e = models.get(m.modelId());
          if (e != null) e.ref.tell(new ModelActor.InjectFault(m.message()));
          return this;
        })
        .onMessage(InjectPoolFault.class, m -> tellPool(new PagePoolActor.InjectFault(m.message())))
        .onMessage(InjectReclaimFault.class, m -> {
          scheduler.armFault(m.target(), m.mode());
          return this;
        })
        .onMessage(ModelReady.class, m -> {
          models.modelReady(m);
          return this;
        })
        .onMessage(ModelLoadFailed.class, m -> {
          models.modelLoadFailed(m);
          return this;
        })
        .onMessage(ModelStopped.class, m -> {
          models.modelStopped(m);
          return this;
        })
        .onMessage(PrefillSpeed.class, m -> {
          GpuModels.Entry e = models.get(m.modelId());
          if (e != null) e.prefillTokensPerSecond = m.tokensPerSecond();
          return this;
        })
        .onMessage(Enqueue.class, m -> {
          scheduler.enqueue(m);
          return this;
        })
        .onMessage(Progress.class, m -> {
          scheduler.progress(m);
          return this;
        })
        .onMessage(NeedPages.class, m -> {
          scheduler.needPages(m);
          return this;
        })
        .onMessage(Reclaimed.class, m -> {
          scheduler.reclaimed(m);
          return this;
        })
        .onMessage(ReclaimTimedOut.class, m -> {
          scheduler.reclaimTimedOut(m.negotiationId());
          return this;
        })
        .onMessage(Activated.class, m -> {
          scheduler.activated(m);
          return this;
        })
        .onMessage(IdleEvicted.class, m -> {
          scheduler.idleEvicted(m);
          return this;
        })
        .onMessage(PoolStopped.class, this::onPoolStopped)
        .onMessage(PoolReady.class, m -> this) // a pool actor started again over the same runtime
        .onMessageEquals(ReportTick.INSTANCE, () -> tellPool(new PagePoolActor.Snapshot(null)))
        .build();
  }

  private Behavior<Command> tellPool(PagePoolActor.Command m) {
    pool.tell(m);
    return this;
  }


  private Behavior<Command> onGenerate(Generate g) {
    GpuModels.Entry e = models.get(g.request().modelId());
    if (e != null && !e.unloading) {
      e.ref.tell(new ModelActor.Generate(g.request(), g.replyTo()));
    } else if (g.frontend() != null) {
      g.frontend().tell(new Frontend.Misrouted(g.request(), g.replyTo(), gpu, g.attempt()));
    } else {
      g.replyTo().tell(new GenerationEvent.Rejected(g.request().requestId(), new Rejection.Unavailable(
          "model '" + g.request().modelId() + "' is not on " + gpu)));
    }
    return this;
  }

  private Behavior<Command> onPoolSnapshot(PoolSnapshot s) {
    GpuStatus status = scheduler.complete(s.status(), models.ids());
    if (s.replyTo() != null) {
      s.replyTo().tell(status);
      return this;
    }
    scheduler.idleCheck(status);
    placement.tell(new GlobalPlacementActor.GpuReport(gpu, status.description(), incarnation, status.budgetBytes(), status.freeBytes(),
        status.healthy(), models.residents()));
    return this;
  }

  private Behavior<Command> onPoolStopped(PoolStopped m) {
    if (!m.pool().equals(pool)) return this;
    pool = getContext().spawn(
        Behaviors.supervise(PagePoolActor.resume(runtime, incarnation, settings.stallTimeout(), getContext().getSelf()))
            .onFailure(SupervisorStrategy.resume()),
        "page-pool-" + (++pools), DispatcherSelector.fromConfig(PrismSettings.dispatcherId(runtime.device().index())));
    getContext().watchWith(pool, new PoolStopped(pool));
    scheduler.poolRestarted(pool);
    return this;
  }
}
