package io.prism.actors;

import io.prism.runtime.engine.Device;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ThreadLocalRandom;
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
 * <p>Threading: this actor runs on the default dispatcher and never touches the device; its
 * children do, on the device's one-thread dispatcher {@code prism.gpu.dispatchers.gpu-<index>}.
 *
 * <p>Failure: a failing model actor is restarted (see {@link ModelActor}), a failing pool actor
 * resumed. This actor only keeps books, and if it throws it is resumed rather than restarted: a
 * restart would stop its children in no defined order and rebuild the pool over a device whose
 * pages the old model actors might still be returning.
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

  /**
   * Routes a request to the model's actor. If the model is not here, the request goes back to
   * {@code frontend} (to resolve again) or, without one, is rejected.
   *
   * @param attempt how many times the request was routed before
   */
  public record Generate(GenerateRequest request, ActorRef<GenerationEvent> replyTo, ActorRef<Frontend.Command> frontend, int attempt)
      implements Command {}

  /** Replies with the device's {@link GpuStatus}. */
  public record GetStatus(ActorRef<GpuStatus> replyTo) implements Command {}

  /** Test hook: makes the model's actor throw (it is restarted). */
  public record InjectModelFault(String modelId, String message) implements Command {}

  /** Test hook: makes the page pool actor throw (it is resumed). */
  public record InjectPoolFault(String message) implements Command {}

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

  /** From a model actor: loaded and serving (again, after a restart). */
  record ModelReady(String modelId, int maxModelLen, long weightBytes) implements Command {}

  /** From a model actor: could not load; it stops. */
  record ModelLoadFailed(String modelId, String reason) implements Command {}

  private record ModelStopped(String modelId, ActorRef<ModelActor.Command> ref) implements Command {}

  private enum ReportTick implements Command {
    INSTANCE
  }

  private record StatusForReport(GpuStatus status) implements Command {}

  private static final class Entry {
    final ModelSpec spec;
    final ActorRef<ModelActor.Command> ref;
    boolean ready;
    boolean unloading;
    int maxModelLen;
    long weightBytes;
    int restarts = -1;
    String failure;
    final List<ActorRef<LoadReply>> waiters = new ArrayList<>();

    Entry(ModelSpec spec, ActorRef<ModelActor.Command> ref) {
      this.spec = spec;
      this.ref = ref;
    }
  }

  /**
   * @param gpu this device's id (its node must be the local one)
   * @param device the local device
   * @param store host copies of models
   * @param settings node settings
   * @param placement the placement singleton (proxy)
   */
  public static Behavior<Command> create(GpuId gpu, Device device, ModelStore store, PrismSettings settings,
      ActorRef<GlobalPlacementActor.Command> placement) {
    return Behaviors.<Command>supervise(Behaviors.withStash(10_000, stash -> Behaviors.withTimers(timers -> Behaviors.setup(ctx -> {
      long incarnation = ThreadLocalRandom.current().nextLong();
      ActorRef<PagePoolActor.Command> pool = ctx.spawn(
          Behaviors.supervise(PagePoolActor.create(gpu, device, settings.memoryBudgetBytes(), settings.reservePages(), incarnation,
              settings.stallTimeout(), ctx.getSelf())).onFailure(SupervisorStrategy.resume()),
          "page-pool", DispatcherSelector.fromConfig(PrismSettings.dispatcherId(device.index())));
      return waitingForPool(ctx, gpu, store, settings, placement, pool, incarnation, stash, timers);
    })))).onFailure(SupervisorStrategy.resume());
  }

  private static Behavior<Command> waitingForPool(ActorContext<Command> ctx, GpuId gpu, ModelStore store, PrismSettings settings,
      ActorRef<GlobalPlacementActor.Command> placement, ActorRef<PagePoolActor.Command> pool, long incarnation,
      StashBuffer<Command> stash, TimerScheduler<Command> timers) {
    return Behaviors.receive(Command.class)
        .onMessage(PoolReady.class, m -> {
          ctx.getLog().info("GPU {} is up: {} with {} bytes", gpu, m.runtime().device().description(), settings.memoryBudgetBytes());
          timers.startTimerWithFixedDelay(ReportTick.INSTANCE, settings.reportInterval());
          ctx.getSelf().tell(ReportTick.INSTANCE);
          return stash.unstashAll(new GpuActor(ctx, gpu, m.runtime(), store, settings, placement, pool, incarnation));
        })
        .onAnyMessage(m -> {
          if (!(m instanceof Wake)) stash.stash(m);
          return Behaviors.same();
        })
        .build();
  }

  private final GpuId gpu;
  private final GpuRuntime runtime;
  private final ModelStore store;
  private final PrismSettings settings;
  private final ActorRef<GlobalPlacementActor.Command> placement;
  private final ActorRef<PagePoolActor.Command> pool;
  private final long incarnation;
  private final ActorRef<GpuStatus> statusForReport;
  private final Map<String, Entry> models = new TreeMap<>();
  private int spawned;

  private GpuActor(ActorContext<Command> ctx, GpuId gpu, GpuRuntime runtime, ModelStore store, PrismSettings settings,
      ActorRef<GlobalPlacementActor.Command> placement, ActorRef<PagePoolActor.Command> pool, long incarnation) {
    super(ctx);
    this.gpu = gpu;
    this.runtime = runtime;
    this.store = store;
    this.settings = settings;
    this.placement = placement;
    this.pool = pool;
    this.incarnation = incarnation;
    this.statusForReport = ctx.messageAdapter(GpuStatus.class, StatusForReport::new);
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessageEquals(Wake.INSTANCE, () -> this)
        .onMessage(LoadModel.class, this::onLoadModel)
        .onMessage(UnloadModel.class, this::onUnloadModel)
        .onMessage(Generate.class, this::onGenerate)
        .onMessage(GetStatus.class, m -> {
          pool.tell(new PagePoolActor.GetStatus(m.replyTo()));
          return this;
        })
        .onMessage(InjectModelFault.class, m -> {
          Entry e = models.get(m.modelId());
          if (e != null) e.ref.tell(new ModelActor.InjectFault(m.message()));
          return this;
        })
        .onMessage(InjectPoolFault.class, m -> {
          pool.tell(new PagePoolActor.InjectFault(m.message()));
          return this;
        })
        .onMessage(ModelReady.class, this::onModelReady)
        .onMessage(ModelLoadFailed.class, this::onModelLoadFailed)
        .onMessage(ModelStopped.class, this::onModelStopped)
        .onMessageEquals(ReportTick.INSTANCE, () -> {
          pool.tell(new PagePoolActor.GetStatus(statusForReport));
          return this;
        })
        .onMessage(StatusForReport.class, this::onStatusForReport)
        .build();
  }

  private Behavior<Command> onLoadModel(LoadModel m) {
    Entry e = models.get(m.spec().id());
    if (e != null && !e.unloading) {
      if (e.ready) m.replyTo().tell(new ModelLoaded(gpu, e.spec.id(), e.maxModelLen, e.weightBytes));
      else e.waiters.add(m.replyTo());
      return this;
    }
    String name = "model-" + URLEncoder.encode(m.spec().id(), StandardCharsets.UTF_8) + "-" + (++spawned);
    ActorRef<ModelActor.Command> ref = getContext().spawn(
        Behaviors.supervise(ModelActor.create(m.spec(), runtime, store, settings, pool, getContext().getSelf()))
            .onFailure(RuntimeException.class, SupervisorStrategy.restart().withLimit(settings.maxRestarts(), settings.restartWindow())),
        name, DispatcherSelector.fromConfig(PrismSettings.dispatcherId(runtime.device().index())));
    getContext().watchWith(ref, new ModelStopped(m.spec().id(), ref));
    Entry fresh = new Entry(m.spec(), ref);
    fresh.waiters.add(m.replyTo());
    models.put(m.spec().id(), fresh);
    getContext().getLog().info("Loading model {} on {}", m.spec().id(), gpu);
    return this;
  }

  private Behavior<Command> onUnloadModel(UnloadModel m) {
    Entry e = models.get(m.modelId());
    if (e != null && !e.unloading) {
      e.unloading = true;
      e.ref.tell(ModelActor.Shutdown.INSTANCE);
      store.evict(m.modelId());
    }
    return this;
  }

  private Behavior<Command> onGenerate(Generate g) {
    Entry e = models.get(g.request().modelId());
    if (e != null && !e.unloading) {
      e.ref.tell(new ModelActor.Generate(g.request(), g.replyTo()));
    } else if (g.frontend() != null) {
      g.frontend().tell(new Frontend.Misrouted(g.request(), g.replyTo(), gpu, g.attempt()));
    } else {
      g.replyTo().tell(new GenerationEvent.Rejected(g.request().requestId(), ErrorKind.UNAVAILABLE,
          "model '" + g.request().modelId() + "' is not on " + gpu, null));
    }
    return this;
  }

  private Behavior<Command> onModelReady(ModelReady m) {
    Entry e = models.get(m.modelId());
    if (e == null) return this;
    e.ready = true;
    e.maxModelLen = m.maxModelLen();
    e.weightBytes = m.weightBytes();
    e.restarts++;
    if (e.restarts > 0) getContext().getLog().warn("Model {} on {} is serving again after restart {}", m.modelId(), gpu, e.restarts);
    e.waiters.forEach(w -> w.tell(new ModelLoaded(gpu, m.modelId(), m.maxModelLen(), m.weightBytes())));
    e.waiters.clear();
    getContext().getSelf().tell(ReportTick.INSTANCE);
    return this;
  }

  private Behavior<Command> onModelLoadFailed(ModelLoadFailed m) {
    Entry e = models.get(m.modelId());
    if (e != null) e.failure = m.reason();
    return this;
  }

  private Behavior<Command> onModelStopped(ModelStopped m) {
    Entry e = models.get(m.modelId());
    if (e == null || !e.ref.equals(m.ref())) return this;
    models.remove(m.modelId());
    String reason = e.failure != null ? e.failure : e.unloading ? "unloaded" : "model actor stopped after repeated failures";
    e.waiters.forEach(w -> w.tell(new LoadFailed(gpu, m.modelId(), reason)));
    if (!e.unloading) {
      getContext().getLog().warn("Model {} left {}: {}", m.modelId(), gpu, reason);
      if (e.ready) placement.tell(new GlobalPlacementActor.ModelLost(gpu, m.modelId(), reason));
    }
    getContext().getSelf().tell(ReportTick.INSTANCE);
    return this;
  }

  private Behavior<Command> onStatusForReport(StatusForReport s) {
    GpuStatus st = s.status();
    List<GlobalPlacementActor.Resident> residents = new ArrayList<>();
    for (Entry e : models.values()) {
      if (e.ready && !e.unloading) residents.add(new GlobalPlacementActor.Resident(e.spec, e.maxModelLen, e.weightBytes));
    }
    placement.tell(new GlobalPlacementActor.GpuReport(gpu, st.description(), incarnation, st.budgetBytes(), st.freeBytes(), st.healthy(),
        residents));
    return this;
  }
}
