package io.prism.actors.gpu;

import io.prism.actors.GpuId;
import io.prism.actors.PrismSettings;
import io.prism.actors.model.ModelActor;
import io.prism.actors.placement.GlobalPlacementActor;
import io.prism.actors.pool.PagePoolActor;

import io.prism.runtime.policy.IdleEvictionPolicy;
import io.prism.runtime.policy.ModelActivity;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.TreeMap;
import java.util.function.LongSupplier;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * The status side of one {@link GpuActor}: gathers the device's {@link GpuStatus} from the actors
 * that own its parts (a {@link GpuStatusGatherer} child per ask, at most {@code
 * prism.node.ask-timeout} or 2 s, whichever is shorter), completes it with the GPU actor's books
 * ({@link GpuBooks}, {@link GpuAdmission}'s queue) and either answers the asker ({@link
 * GpuActor.GetStatus}) or, for the periodic report ({@code prism.gpu.report-interval}) and the idle
 * check, reports to the {@link GlobalPlacementActor} ({@link GlobalPlacementActor.GpuReport}, with
 * each model's demand from {@link GpuDemand}) and evicts the models idle past the threshold
 * ({@link IdleEvictionPolicy}, the paper's ~45 s), arming the timer for the next check.
 *
 * <p>A page pool actor that stopped for good turns every later status unhealthy with the reason.
 * Plain state of the GPU actor: called on its thread only.
 */
final class GpuReports {
  private final ActorContext<GpuActor.Command> ctx;
  private final GpuId gpu;
  private final long incarnation;
  private final PrismSettings settings;
  private final ActorRef<GlobalPlacementActor.Command> placement;
  private final ActorRef<PagePoolActor.Command> pool;
  private final TimerScheduler<GpuActor.Command> timers;
  private final LongSupplier clock;
  private final GpuModels models;
  private final GpuBooks books;
  private final GpuAdmission admission;
  private final long idleThresholdNanos;
  private final IdleEvictionPolicy idle;
  private final GpuDemand demand;
  private String poolLost = "";
  private int gatherers;

  /**
   * @param incarnation random id of this GPU actor instance (a new one tells the placement it restarted)
   * @param idleThresholdNanos how long a model must be idle to be evicted ({@link ReclaimNegotiator#idleThresholdNanos()})
   */
  GpuReports(ActorContext<GpuActor.Command> ctx, GpuId gpu, long incarnation, PrismSettings settings,
      ActorRef<GlobalPlacementActor.Command> placement, ActorRef<PagePoolActor.Command> pool, TimerScheduler<GpuActor.Command> timers,
      LongSupplier clock, GpuModels models, GpuBooks books, GpuAdmission admission, long idleThresholdNanos) {
    this.ctx = ctx;
    this.gpu = gpu;
    this.incarnation = incarnation;
    this.settings = settings;
    this.placement = placement;
    this.pool = pool;
    this.timers = timers;
    this.clock = clock;
    this.models = models;
    this.books = books;
    this.admission = admission;
    this.idleThresholdNanos = idleThresholdNanos;
    this.idle = new IdleEvictionPolicy(Duration.ofNanos(idleThresholdNanos));
    this.demand = new GpuDemand(ctx.getSystem().settings().config().getDuration("prism.placement.rate-window"));
  }

  /** Starts a gatherer; its {@link GpuActor.StatusGathered} comes back for {@code replyTo} (null: the report and the idle check). */
  void gather(ActorRef<GpuStatus> replyTo) {
    Duration timeout = settings.askTimeout().compareTo(Duration.ofSeconds(2)) < 0 ? settings.askTimeout() : Duration.ofSeconds(2);
    ctx.spawn(GpuStatusGatherer.create(gpu, incarnation, models.readyRefs(), pool, clock, timeout, ctx.getSelf(), replyTo),
        "status-" + (++gatherers));
  }

  /** Completes a gathered status with the books; answers its asker, or reports to the placement and checks for idle models. */
  void gathered(GpuActor.StatusGathered s) {
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
      return;
    }
    idleCheck(status);
    placement.tell(new GlobalPlacementActor.GpuReport(gpu, status.description(), incarnation, status.budgetBytes(), status.freeBytes(),
        status.healthy(), models.residents(status, demand, id -> admission.policy().queued(id))));
  }

  /** The page pool actor stopped for good: every later status is unhealthy with this reason. */
  void poolStopped() {
    poolLost = "the page pool actor of " + gpu + " stopped";
    ctx.getLog().error("GPU {}: {}", gpu, poolLost);
  }

  /** A model instance stopped: its token rate starts afresh if it comes back. */
  void modelGone(String modelId) {
    demand.forget(modelId);
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
      if (e != null) e.ref.tell(new ModelActor.EvictIfIdle(idleThresholdNanos));
    }
    OptionalLong next = idle.nextEvictionNanos(activity, s.nowNanos());
    if (next.isPresent()) {
      timers.startSingleTimer("idle", GpuActor.EvictIdleModels.INSTANCE, Duration.ofNanos(next.getAsLong() - s.nowNanos()).plusMillis(1));
    }
  }
}
