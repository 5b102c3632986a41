package io.prism.actors.gpu;

import io.prism.actors.GpuId;
import io.prism.actors.ModelSpec;
import io.prism.actors.PrismMessage;
import io.prism.actors.PrismSettings;
import io.prism.actors.frontend.Frontend;
import io.prism.actors.frontend.GenerateRequest;
import io.prism.actors.frontend.GenerationEvent;
import io.prism.actors.frontend.TokenizeReply;
import io.prism.actors.frontend.TokenizeRequest;
import io.prism.actors.model.ModelActor;
import io.prism.actors.model.ModelStore;
import io.prism.actors.placement.GlobalPlacementActor;
import io.prism.actors.pool.PagePoolActor;
import io.prism.actors.pool.ReclaimResult;

import io.prism.runtime.engine.Device;
import io.prism.runtime.engine.RequestLimits;
import io.prism.runtime.engine.RequestResumption;
import io.prism.runtime.engine.Rejection;
import io.prism.runtime.memory.PagePool;
import io.prism.runtime.policy.IdleEvictionPolicy;
import io.prism.runtime.policy.ModelActivity;
import io.prism.runtime.policy.ModelMemory;
import io.prism.runtime.policy.ModelOutlook;
import io.prism.runtime.tokenizer.Tokenizer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.TreeMap;
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
 *   <li><b>Idle eviction</b> on a timer ({@link IdleEvictionPolicy}).
 *   <li><b>Status</b>: gathered from its children by a {@link GpuStatusGatherer}, completed with the
 *       books ({@link GpuBooks}); reported to the {@link GlobalPlacementActor} every {@code
 *       prism.gpu.report-interval}.
 * </ul>
 *
 * <p>Threading: this actor runs on the default dispatcher and never touches the device; its
 * children run on the device's one-thread dispatcher {@code prism.gpu.dispatchers.gpu-<index>}.
 * Failure: a failing model actor is restarted (see {@link ModelActor}); the pool actor is resumed
 * or restarted over the same pool by its own supervision; this actor is resumed if it throws.
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
   * From the placement (live migration): {@code modelId} now serves on {@code to}, as of placement
   * epoch {@code epoch}. New requests for it, and those still queued here, are redirected there
   * ({@link Frontend.Misrouted} with the new GPU); the ones its model actor has finish here, for at
   * most {@code drainTimeout} (after it, the rest continue on {@code to} by recompute: {@link
   * Resume}); then the model unloads and its pages and weights go back. Older epochs than one
   * already handled are ignored. See {@link GpuHandOff}.
   */
  public record HandOff(String modelId, GpuId to, long epoch, Duration drainTimeout) implements Command {}

  /**
   * From a migration's source, at its drain timeout: a request of {@code modelId} that continues
   * here by recompute ({@link RequestResumption}; see {@code ModelTransfer}), past local admission.
   *
   * @param replyTo its requester, who has had {@code Started} and maybe tokens when {@code started}
   * @param started whether it had started on the source (else it was only admitted there: it gets its {@code Started} here)
   * @param from the source GPU
   * @param hops how many GPUs it followed its model through already (bounded by {@link GpuHandOff#MAX_HOPS})
   */
  public record Resume(String modelId, RequestResumption resumption, ActorRef<GenerationEvent> replyTo, boolean started, GpuId from, int hops)
      implements Command {
    /** The one last event for a hand-over that cannot continue: {@code Completed(FAILED)} with the tokens so far, or {@code Rejected} (retryable) if it had not started. */
    public GenerationEvent ending(String why) {
      String message = "the request moved with model '" + modelId + "' from " + from + " and could not continue: " + why;
      if (started) {
        return new GenerationEvent.Completed(resumption.requestId(), io.prism.runtime.engine.FinishReason.FAILED, "", resumption.promptTokens(),
            resumption.completionTokens(), message);
      }
      return new GenerationEvent.Rejected(resumption.requestId(), new Rejection.Unavailable(message + "; retry", "model", 1));
    }
  }

  /** From a model actor told to {@link ModelActor.HandOver}: its requests, for the GPU actor to send to {@code to}. */
  public record HandedOver(String modelId, GpuId to, List<Resume> requests) implements Command {}

  /** New SLOs or page limits for a model on this device (a lowered maximum takes effect lazily). */
  public record UpdateModel(ModelSpec spec) implements Command {}

  /**
   * A request for one of this device's models. If the model is not here, the request goes back to
   * {@code frontend} (to resolve again) or, without one, is rejected. An evicted model is still
   * here: the request reactivates it.
   *
   * @param attempt how many times the request was routed before
   */
  public record Generate(GenerateRequest request, ActorRef<GenerationEvent> replyTo, ActorRef<Frontend.Command> frontend, int attempt)
      implements Command {}

  /**
   * Tokenizes a prompt or chat, or decodes token ids, with one of this device's models' own
   * tokenizer and chat template ({@code POST /tokenize}, {@code /detokenize}); see {@link Tokenizing}.
   */
  public record Tokenize(TokenizeRequest request, ActorRef<TokenizeReply> replyTo) implements Command {}

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
   * steps, {@code target} fails. {@code target} {@value #POOL}: the pool actor fails after granting
   * the first returned pages, {@code mode} {@code "stop"} (restarted over the same pool) or {@code
   * "throw"} (resumed); otherwise {@code target} is a model id whose actor is crashed while the plan
   * is in flight.
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

  /**
   * What the GPU actor keeps of a ready model instance (node-local: the tokenizer is the model's own,
   * immutable and thread-safe for encoding). Its prefill speed and step times reach admission
   * with each progress report ({@code ModelOutlook}).
   *
   * @param limits the static limits its requests must fit
   * @param maxModelLen context length in tokens
   * @param weightBytes bytes of its weights in the pool's budget
   * @param capacityPages the pool's capacity for KV beside the weights when it joined
   */
  public record ModelProfile(Tokenizer tokenizer, RequestLimits limits, int maxModelLen, long weightBytes, int capacityPages) {}

  /** From a model actor: loaded and serving (again, after a restart). */
  public record ModelReady(String modelId, ModelProfile profile) implements Command, NoSerializationVerificationNeeded {}

  /** From a model actor: could not load; it stops. */
  public record ModelLoadFailed(String modelId, String reason) implements Command {}

  /** From a model actor: first tokens and ended requests since its last report, and its outlook for admission. */
  public record Progress(String modelId, List<String> firstTokens, List<String> ended, ModelOutlook outlook) implements Command {}

  /**
   * From the pool actor: a model needs {@code pagesNeeded} pages the pool could not give it.
   *
   * @param pagesForRunning of those, pages its running sequences need (they may preempt)
   * @param prefillAtRisk a request of it is at risk of its TTFT SLO (it may preempt looser decodes)
   * @param forWeights the pages are for its weights (activation)
   * @param freePages pool pages it could get outside the reserve, when it asked
   * @param reservePages reserve pages it could get
   */
  public record NeedPages(String modelId, int pagesNeeded, int pagesForRunning, boolean prefillAtRisk, boolean forWeights, int freePages,
      int reservePages) implements Command {}

  /** From a model actor: its memory for negotiation {@code negotiationId}. */
  public record MemoryReply(long negotiationId, String modelId, ModelMemory memory) implements Command {}

  /** From the pool actor: what {@code fromModel}'s steps of negotiation {@code negotiationId} (-1: idle eviction) freed. */
  public record Reclaimed(long negotiationId, String fromModel, String forModel, List<ReclaimResult> results) implements Command {}

  /** From a model actor: its evicted weights are back; the activation took {@code nanos}. */
  public record Activated(String modelId, long nanos) implements Command {}

  /** From a model actor told to drain: it has no request left. */
  public record Drained(String modelId) implements Command {}

  /** From the pool actor: it was restarted over the same pool. */
  public enum PoolRestarted implements Command {
    INSTANCE
  }

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
  private final ActorRef<GlobalPlacementActor.Command> placement;
  private final ActorRef<PagePoolActor.Command> pool;
  private final long incarnation;
  private final TimerScheduler<Command> timers;
  private final LongSupplier clock;
  private final GpuModels models;
  private final GpuBooks books;
  private final GpuAdmission admission;
  private final ReclaimNegotiator negotiator;
  private final IdleEvictionPolicy idle;
  private final GpuDemand demand;
  private final GpuHandOff handOffs;
  private String poolLost = "";
  private int gatherers;

  private GpuActor(ActorContext<Command> ctx, GpuId gpu, Device device, ModelStore store, PrismSettings settings,
      ActorRef<GlobalPlacementActor.Command> placement, ActorRef<PagePoolActor.Command> pool, long incarnation, TimerScheduler<Command> timers,
      LongSupplier clock) {
    super(ctx);
    this.gpu = gpu;
    this.settings = settings;
    this.placement = placement;
    this.pool = pool;
    this.incarnation = incarnation;
    this.timers = timers;
    this.clock = clock;
    GpuPolicySettings p = settings.policies();
    this.books = new GpuBooks(gpu, ctx.getLog(), p.eventLogSize());
    this.models = new GpuModels(ctx, gpu, device, clock, pool, store, settings, placement);
    this.admission = new GpuAdmission(ctx, p.deadlineAdmission(), clock, settings.maxQueuedRequests(), p.maxQueuedRequests());
    this.negotiator = new ReclaimNegotiator(ctx, p, timers, models::get, models::ids, books);
    this.idle = new IdleEvictionPolicy(Duration.ofNanos(negotiator.idleThresholdNanos()));
    this.demand = new GpuDemand(ctx.getSystem().settings().config().getDuration("prism.placement.rate-window"));
    models.wire(books, admission);
    this.handOffs = new GpuHandOff(ctx, gpu, models, admission, books, timers,
        g -> ClusterSharding.get(ctx.getSystem()).entityRefFor(TYPE_KEY, g.entityId()));
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
        .onMessage(GetStatus.class, m -> gather(m.replyTo()))
        .onMessage(StatusGathered.class, this::onStatusGathered)
        .onMessageEquals(EvictIdleModels.INSTANCE, () -> gather(null))
        .onMessageEquals(ReportTick.INSTANCE, () -> gather(null))
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
          demand.forget(m.modelId());
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
        .onMessage(PoolStopped.class, m -> run(() -> {
          poolLost = "the page pool actor of " + gpu + " stopped";
          getContext().getLog().error("GPU {}: {}", gpu, poolLost);
        }))
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

  private Behavior<Command> gather(ActorRef<GpuStatus> replyTo) {
    Duration timeout = settings.askTimeout().compareTo(Duration.ofSeconds(2)) < 0 ? settings.askTimeout() : Duration.ofSeconds(2);
    getContext().spawn(GpuStatusGatherer.create(gpu, incarnation, models.readyRefs(), pool, clock, timeout, getContext().getSelf(), replyTo),
        "status-" + (++gatherers));
    return this;
  }

  private Behavior<Command> onStatusGathered(StatusGathered s) {
    GpuStatus raw = s.status();
    if (!poolLost.isEmpty()) {
      raw = new GpuStatus(raw.gpu(), raw.description(), raw.incarnation(), raw.budgetBytes(), raw.pageBytes(), raw.capacityPages(), raw.freePages(),
          raw.reservePages(), raw.heldPages(), raw.weightBytes(), raw.models(), raw.invariantViolation(), false, poolLost, raw.nowNanos(),
          raw.invariantChecks(), raw.queued(), raw.events());
    }
    Map<String, ModelBooks> b = new TreeMap<>();
    for (String id : models.ids()) b.put(id, books.books(id, admission.policy(), models.get(id).early.size()));
    GpuStatus status = raw.withBooks(b, admission.queued(), books.events());
    if (s.replyTo() != null) {
      s.replyTo().tell(status);
      return this;
    }
    idleCheck(status);
    placement.tell(new GlobalPlacementActor.GpuReport(gpu, status.description(), incarnation, status.budgetBytes(), status.freeBytes(),
        status.healthy(), models.residents(status, demand, id -> admission.policy().queued(id))));
    return this;
  }

  /** Evicts the models idle past the threshold, and sets the timer for the next check. */
  private void idleCheck(GpuStatus s) {
    if (!settings.policies().evictIdleModels()) return;
    List<ModelActivity> activity = new ArrayList<>();
    for (GpuStatus.ModelStatus m : s.models()) {
      int inFlight = m.waiting() + m.running() + admission.policy().queued(m.modelId());
      activity.add(new ModelActivity(m.modelId(), m.resident(), m.lastActivityNanos(), inFlight));
    }
    for (String id : idle.modelsToEvict(activity, s.nowNanos())) {
      GpuModels.Entry e = models.get(id);
      if (e != null) e.ref.tell(new ModelActor.EvictIfIdle(negotiator.idleThresholdNanos()));
    }
    OptionalLong next = idle.nextEvictionNanos(activity, s.nowNanos());
    if (next.isPresent()) {
      timers.startSingleTimer("idle", EvictIdleModels.INSTANCE, Duration.ofNanos(next.getAsLong() - s.nowNanos()).plusMillis(1));
    }
  }
}
