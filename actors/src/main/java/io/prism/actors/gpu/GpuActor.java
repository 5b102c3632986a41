package io.prism.actors.gpu;

import io.prism.actors.GpuId;
import io.prism.actors.PrismSettings;
import io.prism.actors.frontend.Frontend;
import io.prism.actors.frontend.GenerationEvent;
import io.prism.actors.model.ModelActor;
import io.prism.actors.model.ModelStore;
import io.prism.actors.placement.GlobalPlacementActor;
import io.prism.actors.pool.PagePoolActor;

import io.prism.runtime.engine.Device;
import io.prism.runtime.engine.Rejection;
import io.prism.runtime.memory.PagePool;
import io.prism.runtime.policy.IdleEvictionPolicy;
import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.LongSupplier;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;

/**
 * One device: a Cluster Sharding entity (id {@link GpuId#entityId()}, kept on the device's own node
 * by {@link io.prism.actors.sharding.NodeBoundAllocationStrategy}) and the device's local scheduler.
 * Its children own the device's state: the {@link PagePoolActor} its pages, one {@link ModelActor}
 * per model instance its engine; this actor owns the decisions between them and touches neither.
 *
 * <ul>
 *   <li><b>Admission</b> ({@link GpuAdmission}): a request is tokenized and checked here, counted
 *       against the queue bounds (429 beyond them), queued by TTFT deadline across the device's
 *       models and admitted by the paper's Algorithm 2 with the full cost of a request ({@code
 *       DeadlineAdmission}); admitted, it goes to its model actor in one hop ({@link
 *       ModelActor.Run}).
 *   <li><b>Reclaim</b> ({@link ReclaimNegotiator}): when the pool cannot cover a model's ask, a plan
 *       over every model's memory, carried out by the models that give pages.
 *   <li><b>Idle eviction</b> on a timer ({@link IdleEvictionPolicy}), and <b>status</b>: gathered
 *       from its children by a {@link GpuStatusGatherer}, completed with the books ({@link
 *       GpuBooks}); reported to the {@link GlobalPlacementActor} every {@code
 *       prism.gpu.report-interval} ({@link GpuReports}).
 * </ul>
 *
 * <p>Its messages are in {@link GpuProtocol} (this class implements it, so {@code
 * GpuActor.Generate} names them too); its timer, adapter and gatherer messages are its own, below.
 *
 * <p>Threading: this actor runs on the default dispatcher and never touches the device; its
 * children run on the device's one-thread dispatcher {@code prism.gpu.dispatchers.gpu-<index>}.
 * Failure: a failing model actor is restarted (see {@link ModelActor}); the pool actor is resumed
 * or restarted over the same pool by its own supervision; this actor is resumed if it throws.
 */
public final class GpuActor extends AbstractBehavior<GpuProtocol.Command> implements GpuProtocol {
  /** Sharding entity type of GPU actors. */
  public static final EntityTypeKey<Command> TYPE_KEY = EntityTypeKey.create(Command.class, "prism-gpu");

  /** From a status gatherer: the device's status without books, for {@code replyTo} (null: for the report and the idle check). */
  record StatusGathered(GpuStatus status, ActorRef<GpuStatus> replyTo) implements Command {}

  record ReclaimTimedOut(long negotiationId) implements Command {}

  record GatherTimedOut(long negotiationId) implements Command {}

  record ModelStopped(String modelId, ActorRef<ModelActor.Command> ref) implements Command {}

  record PoolStopped() implements Command {}

  record RequesterGone(ActorRef<GenerationEvent> requester) implements Command {}

  record DrainTimedOut(String modelId, long epoch, Duration drainTimeout) implements Command {}

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
   *     deadlines, idle times); {@link System#nanoTime()} outside tests, which move it forward
   */
  public static Behavior<Command> create(GpuId gpu, Device device, ModelStore store, PrismSettings settings,
      ActorRef<GlobalPlacementActor.Command> placement, LongSupplier clock) {
    return Behaviors.<Command>supervise(Behaviors.withTimers(timers -> Behaviors.setup(ctx -> {
      long incarnation = ThreadLocalRandom.current().nextLong();
      PagePool pool = new PagePool(device.memory(), settings.memoryBudgetBytes(), settings.reservePages());
      pool.setMaxResidentOwners(settings.policies().maxResidentModels());
      ActorRef<PagePoolActor.Command> poolRef = ctx.spawn(PagePoolActor.create(gpu, device.description(), pool, settings.policies(), ctx.getSelf()),
          "page-pool", DispatcherSelector.fromConfig(PrismSettings.dispatcherId(device.index())));
      ctx.watchWith(poolRef, new PoolStopped());
      ctx.getLog().info("GPU {} is up: {} with {} bytes", gpu, device.description(), settings.memoryBudgetBytes());
      timers.startTimerWithFixedDelay(ReportTick.INSTANCE, settings.reportInterval());
      ctx.getSelf().tell(ReportTick.INSTANCE);
      return new GpuActor(ctx, gpu, device, store, settings, placement, poolRef, incarnation, timers, clock);
    }))).onFailure(SupervisorStrategy.resume());
  }

  private final GpuId gpu;
  private final PrismSettings settings;
  private final ActorRef<PagePoolActor.Command> pool;
  private final GpuModels models;
  private final GpuBooks books;
  private final GpuAdmission admission;
  private final ReclaimNegotiator negotiator;
  private final GpuHandOff handOffs;
  private final GpuReports reports;

  private GpuActor(ActorContext<Command> ctx, GpuId gpu, Device device, ModelStore store, PrismSettings settings,
      ActorRef<GlobalPlacementActor.Command> placement, ActorRef<PagePoolActor.Command> pool, long incarnation, TimerScheduler<Command> timers,
      LongSupplier clock) {
    super(ctx);
    this.gpu = gpu;
    this.settings = settings;
    this.pool = pool;
    GpuPolicySettings p = settings.policies();
    this.books = new GpuBooks(gpu, ctx.getLog(), p.eventLogSize());
    this.models = new GpuModels(ctx, gpu, device, clock, pool, store, settings, placement);
    this.admission = new GpuAdmission(ctx, p.deadlineAdmission(), clock, settings.maxQueuedRequests(), p.maxQueuedRequests());
    this.negotiator = new ReclaimNegotiator(ctx, p, timers, models::get, models::ids, books);
    models.wire(books, admission);
    this.handOffs = new GpuHandOff(ctx, gpu, models, admission, books, timers,
        g -> ClusterSharding.get(ctx.getSystem()).entityRefFor(TYPE_KEY, g.entityId()));
    this.reports = new GpuReports(ctx, gpu, incarnation, settings, placement, pool, timers, clock, models, books, admission,
        negotiator.idleThresholdNanos());
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessageEquals(Wake.INSTANCE, () -> this)
        .onMessage(LoadModel.class, m -> run(() -> models.loadModel(m)))
        .onMessage(UnloadModel.class, m -> run(() -> models.unloadModel(m)))
        .onMessage(UpdateModel.class, m -> run(() -> models.updateModel(m)))
        .onMessage(HandOff.class, m -> run(() -> {
          handOffs.handOff(m);
          getContext().getSelf().tell(ReportTick.INSTANCE);
        }))
        .onMessage(Drained.class, m -> run(() -> handOffs.drained(m.modelId(), "drained")))
        .onMessage(DrainTimedOut.class, m -> run(() -> handOffs.drainTimedOut(m)))
        .onMessage(HandedOver.class, m -> run(() -> handOffs.handedOver(m)))
        .onMessage(Resume.class, m -> run(() -> handOffs.resume(m)))
        .onMessage(Generate.class, this::onGenerate)
        .onMessage(Tokenize.class, m -> run(() -> m.replyTo().tell(Tokenizing.answer(m.request(), models.get(m.request().modelId()), gpu))))
        .onMessage(GetStatus.class, m -> run(() -> reports.gather(m.replyTo())))
        .onMessage(StatusGathered.class, m -> run(() -> reports.gathered(m)))
        .onMessageEquals(EvictIdleModels.INSTANCE, () -> run(() -> reports.gather(null)))
        .onMessageEquals(ReportTick.INSTANCE, () -> run(() -> reports.gather(null)))
        .onMessage(GetTrace.class, m -> tellPool(new PagePoolActor.GetTrace(m.replyTo())))
        .onMessage(InjectModelFault.class, m -> run(() -> {
          GpuModels.Entry e = models.get(m.modelId());
          if (e != null) e.ref.tell(new ModelActor.InjectFault(m.message()));
        }))
        .onMessage(InjectPoolFault.class, m -> tellPool(new PagePoolActor.InjectFault(m.message())))
        .onMessage(InjectReclaimFault.class, m -> run(() -> {
          if (m.target().equals(POOL)) pool.tell(new PagePoolActor.ArmReclaimFault(m.mode()));
          else negotiator.armModelFault(m.target());
        }))
        .onMessage(ModelReady.class, m -> run(() -> {
          for (Generate g : models.modelReady(m)) onGenerate(g);
        }))
        .onMessage(ModelLoadFailed.class, m -> run(() -> models.modelLoadFailed(m)))
        .onMessage(ModelStopped.class, m -> run(() -> {
          negotiator.modelGone(m.modelId());
          reports.modelGone(m.modelId());
          models.modelStopped(m);
          admission.round(models::get, books);
        }))
        .onMessage(Progress.class, m -> run(() -> {
          admission.progress(m);
          admission.round(models::get, books);
        }))
        .onMessage(RequesterGone.class, m -> run(() -> admission.requesterGone(m.requester())))
        .onMessage(NeedPages.class, m -> run(() -> negotiator.needPages(m)))
        .onMessage(MemoryReply.class, m -> run(() -> negotiator.memoryReply(m)))
        .onMessage(GatherTimedOut.class, m -> run(() -> negotiator.gatherTimedOut(m.negotiationId())))
        .onMessage(Reclaimed.class, m -> run(() -> negotiator.reclaimed(m)))
        .onMessage(ReclaimTimedOut.class, m -> run(() -> negotiator.reclaimTimedOut(m.negotiationId())))
        .onMessageEquals(PoolRestarted.INSTANCE, () -> run(negotiator::poolRestarted))
        .onMessage(PoolStopped.class, m -> run(reports::poolStopped))
        .onMessage(Activated.class, m -> run(() -> books.activated(m.modelId(), m.nanos())))
        .build();
  }

  private Behavior<Command> run(Runnable r) {
    r.run();
    return this;
  }

  private Behavior<Command> tellPool(PagePoolActor.Command m) {
    pool.tell(m);
    return this;
  }

  /** Tells a request that came through a frontend (so has a {@code RequestRelay}) that this GPU holds it now. */
  private void queued(Generate g, GpuModels.Entry e) {
    if (g.frontend() != null) {
      g.replyTo().tell(new GenerationEvent.Queued(g.request().requestId(), gpu, getContext().getSelf(), g.attempt(), e.spec.ttftSlo().toMillis()));
    }
  }

  private Behavior<Command> onGenerate(Generate g) {
    GpuModels.Entry e = models.get(g.request().modelId());
    if (e != null && e.movedTo != null && !e.unloading) {
      handOffs.redirect(g, e);
    } else if (e == null || e.unloading) {
      if (g.frontend() != null) {
        g.frontend().tell(new Frontend.Misrouted(g.request(), g.replyTo(), gpu, g.attempt(), null, 0));
      } else {
        g.replyTo().tell(new GenerationEvent.Rejected(g.request().requestId(), new Rejection.Unavailable(
            "model '" + g.request().modelId() + "' is not on " + gpu)));
      }
    } else if (!e.ready) {
      if (e.early.size() >= settings.maxQueuedRequests()) {
        g.replyTo().tell(new GenerationEvent.Rejected(g.request().requestId(), new Rejection.Overloaded(
            "model '" + e.spec.id() + "' is loading and has " + e.early.size() + " requests waiting; retry later", 1)));
      } else {
        e.early.add(g);
        queued(g, e);
      }
    } else if (admission.accept(g, e)) {
      queued(g, e);
      admission.round(models::get, books);
    }
    return this;
  }
}
