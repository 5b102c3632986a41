package io.prism.actors.placement;

import io.prism.actors.GpuId;
import io.prism.actors.ModelSpec;
import io.prism.actors.PrismMessage;
import io.prism.actors.gpu.GpuActor;

import io.prism.runtime.engine.Rejection;
import io.prism.actors.placement.ModelInfo.State;
import io.prism.runtime.policy.KvprPlacement;
import io.prism.runtime.policy.MostFreeMemoryPlacement;
import io.prism.runtime.policy.PlacementPolicy;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.RecipientRef;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.ddata.LWWMap;
import org.apache.pekko.cluster.ddata.typed.javadsl.DistributedData;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Subscribe;

/**
 * The cluster singleton that knows the model catalog and every GPU, and decides which GPU serves
 * which model: the paper's global scheduler, live.
 *
 * <p><b>Demand.</b> GPUs announce themselves with periodic {@link GpuReport}s: budget, free bytes,
 * and per model its token rate (60 s average), KV bytes per token, whether its weights are resident
 * and its queue. From them this actor computes each GPU's KVPR with the same {@link KvprPlacement}
 * code the simulator runs ({@link PlacementRound}).
 *
 * <p><b>Placement.</b> A registered model goes to the GPU the policy picks ({@code
 * prism.placement.policy}: {@code kvpr}, ties broken by most free memory; or {@code most-free}); if
 * that GPU cannot load it, the policy runs again without it; when no GPU is left the model is
 * {@link State#FAILED}. A model registered before any GPU has reported waits until one does.
 *
 * <p><b>Rounds.</b> Every {@code prism.placement.round-interval}, when a GPU joins, and on {@link
 * Rebalance}, the policy runs over the live demand; the migrations it proposes pass through a
 * {@link MigrationBudget} (cooldown per model, concurrent migrations per GPU, per round) and are
 * carried out live by the {@link MigrationCoordinator} (the model serves on its source until its
 * target is ready). {@link MoveModel} starts one by hand.
 *
 * <p><b>Loss.</b> Models of a node that leaves the cluster, or of a GPU actor that restarted (new
 * {@code incarnation}), are placed again; a migration whose target is lost is abandoned.
 *
 * <p><b>Failover.</b> The catalog is replicated ({@link DurableCatalog}, Distributed Data, majority
 * writes): a new singleton instance reads it, adopts the models GPUs report resident, and after
 * {@code prism.placement.restore-grace} places the others (those of a lost node, or not loaded
 * yet).
 */
public final class GlobalPlacementActor extends AbstractBehavior<GlobalPlacementActor.Command> {
  /** Messages of the placement protocol. */
  public sealed interface Command extends PrismMessage {}

  /**
   * Adds a model to the catalog and places it; replies once it is loaded or cannot be. Registering
   * a model again from the same source with other SLOs or page limits updates them (on its GPU too).
   */
  public record RegisterModel(ModelSpec spec, ActorRef<RegisterReply> replyTo) implements Command {}

  /** Removes a model from the catalog and unloads it from its GPU. */
  public record UnregisterModel(String modelId, ActorRef<Unregistered> replyTo) implements Command {}

  /**
   * Which GPU serves {@code modelId}; answered at once ({@link Loading} while it is being placed or
   * loaded). A lookup of a model whose weights are evicted may reactivate it on another GPU
   * ({@link PlacementPlanner#reactivate}): then it is {@link Loading} until that GPU serves it.
   */
  public record Resolve(String modelId, ActorRef<Resolution> replyTo) implements Command {}

  /** Replies with the whole catalog. */
  public record ListModels(ActorRef<ModelList> replyTo) implements Command {}

  /** Replies with the latest report of every known GPU. */
  public record ListGpus(ActorRef<GpuList> replyTo) implements Command {}

  /**
   * A GPU's state, sent by its {@link GpuActor} periodically and after every load or unload.
   *
   * @param incarnation random id of the GPU actor instance; a new value means it restarted and lost its models
   * @param budgetBytes memory budget for weights and KV
   * @param freeBytes budget not used by weights or mapped KV pages
   * @param healthy whether every engine on it can make progress
   */
  public record GpuReport(GpuId gpu, String description, long incarnation, long budgetBytes, long freeBytes, boolean healthy,
      List<Resident> models) implements Command {}

  /** A GPU lost a model it served (its actor failed for good); the placement moves it elsewhere. */
  public record ModelLost(GpuId gpu, String modelId, String reason) implements Command {}

  /**
   * A model placed on a GPU, with its live demand.
   *
   * @param weightBytes bytes of its weights
   * @param weightsResident whether the weights are on the device now (false: evicted to host memory;
   *     the model stays placed there and a request brings them back)
   * @param tokensPerSecond tokens its forward passes computed per second, 60 s moving average
   * @param kvBytesPerToken KV-cache bytes per token
   * @param queued requests waiting (at the GPU's admission and in the engine)
   * @param running requests in its running batch
   */
  public record Resident(ModelSpec spec, int maxModelLen, long weightBytes, boolean weightsResident, double tokensPerSecond, long kvBytesPerToken,
      int queued, int running) implements PrismMessage {}

  /**
   * Moves a model to {@code gpu} by live migration; replies when it serves there ({@link Moved}) or
   * cannot ({@link MoveFailed}, at once for an unknown model or GPU, a model not ready or already
   * moving, or a GPU whose budget cannot hold its weights).
   */
  public record MoveModel(String modelId, GpuId gpu, ActorRef<MoveReply> replyTo) implements Command {}

  /** Runs a placement round now; replies with the view after it (migrations it started are in flight). */
  public record Rebalance(ActorRef<PlacementView> replyTo) implements Command {}

  /**
   * Node {@code host:port} is leaving gracefully (its coordinated shutdown): its GPUs get no new
   * model and its models move to other GPUs by live migration; replies at once with what moves.
   */
  public record DrainNode(String host, int port, ActorRef<DrainStarted> replyTo) implements Command {}

  /** Reply to {@link DrainNode}: models moving away, and models staying (nowhere to go) until the node leaves. */
  public record DrainStarted(List<String> moving, List<String> staying) implements PrismMessage {}

  /** Replies with the {@link PlacementView}. */
  public record GetPlacement(ActorRef<PlacementView> replyTo) implements Command {}

  /** Outcome of {@link MoveModel}. */
  public sealed interface MoveReply extends PrismMessage {}

  /** The model serves on {@code to}; {@code seconds} from the decision to serving there. */
  public record Moved(String modelId, GpuId from, GpuId to, double seconds) implements MoveReply {}

  /** Why a move was refused or failed. */
  public enum MoveProblem {
    /** No such model (404). */
    UNKNOWN_MODEL,
    /** No such GPU reports to the placement (404). */
    UNKNOWN_GPU,
    /** The GPU's budget cannot hold the model's weights (409). */
    DOES_NOT_FIT,
    /** The model is loading or already moving (409). */
    BUSY,
    /** The migration started and did not complete; the model serves where it was (503). */
    FAILED
  }

  /** The move did not happen; {@code problem} says why, {@code message} in words. */
  public record MoveFailed(String modelId, MoveProblem problem, String message) implements MoveReply {}

  /** Outcome of {@link RegisterModel}. */
  public sealed interface RegisterReply extends PrismMessage {}

  /** The model serves on {@code model.gpu()}. */
  public record Registered(ModelInfo model) implements RegisterReply {}

  /** No GPU could load it (or the id is taken by another source); {@code message} says why. */
  public record RegisterFailed(String modelId, Rejection.Kind kind, String message) implements RegisterReply {}

  /** Outcome of {@link UnregisterModel}; {@code existed} is false for an unknown id. */
  public record Unregistered(String modelId, boolean existed) implements PrismMessage {}

  /** Outcome of {@link Resolve}. */
  public sealed interface Resolution extends PrismMessage {
    String modelId();
  }

  /**
   * The model serves on {@code model.gpu()} and its {@code model.replicas()} as of placement epoch
   * {@code epoch} (it goes up with each migration and each instance added or removed); {@code
   * instances} lists every ready instance with the queue its GPU last reported, for the frontends'
   * balancing.
   */
  public record Located(String modelId, ModelInfo model, long epoch, List<Instance> instances) implements Resolution {
    public Located {
      instances = List.copyOf(instances);
    }

    /** A model with one instance, on {@code model.gpu()}, of unknown load. */
    public Located(String modelId, ModelInfo model, long epoch) {
      this(modelId, model, epoch, List.of(new Instance(model.gpu(), 0, 0, true)));
    }
  }

  /**
   * One ready instance of a model as its GPU last reported it.
   *
   * @param queued requests waiting for it; {@code running}: in its running batch
   * @param weightsResident false: its weights are evicted (a request reactivates them)
   */
  public record Instance(GpuId gpu, int queued, int running, boolean weightsResident) implements PrismMessage {}

  /** The model is registered and being placed or loaded; ask again shortly. */
  public record Loading(String modelId) implements Resolution {}

  /** No such model in the catalog. */
  public record NotFound(String modelId) implements Resolution {}

  /** The model is registered but no GPU serves it; {@code message} says why. */
  public record Unavailable(String modelId, String message) implements Resolution {}

  /** Reply to {@link ListModels}, in registration order. */
  public record ModelList(List<ModelInfo> models) implements PrismMessage {}

  /** Reply to {@link ListGpus}, in {@link GpuId} order. */
  public record GpuList(List<GpuReport> gpus) implements PrismMessage {}

  private record WrappedLoadReply(GpuActor.LoadReply reply) implements Command {}

  private record NodeRemoved(String host, int port) implements Command {}

  /** The replicated catalog as read by a new singleton ({@link DurableCatalog}). */
  record CatalogLoaded(List<ModelSpec> specs) implements Command {}

  /** A majority read of the catalog failed: read this node's replica. */
  enum CatalogReadLocal implements Command {
    INSTANCE
  }

  /** Whether {@code register}'s spec was stored with a majority ({@code tries} so far). */
  record CatalogStored(RegisterModel register, boolean stored, int tries) implements Command {}

  /** Whether the removal of {@code unregister}'s model was stored with a majority ({@code tries} so far). */
  record CatalogRemoved(UnregisterModel unregister, boolean stored, int tries) implements Command {}

  /** The restored models not reported resident by any GPU within the grace period are placed now. */
  enum RestoreGraceOver implements Command {
    INSTANCE
  }

  enum RoundTick implements Command {
    INSTANCE
  }

  /** Time to check models with replicas ({@link ReplicaManager}). */
  enum ReplicaTick implements Command {
    INSTANCE
  }

  record MigrationTimedOut(String modelId, long migrationId) implements Command {}

  private final Function<GpuId, RecipientRef<GpuActor.Command>> gpus;
  private final PlacementSettings settings;
  private final PlacementPolicy policy;
  private final KvprPlacement kvpr;
  private final ActorRef<GpuActor.LoadReply> loadReplies;
  private final MigrationCoordinator migrations;
  private final Map<String, CatalogEntry> catalog = new LinkedHashMap<>();
  private final Map<GpuId, GpuReport> reports = new TreeMap<>();
  private final Map<GpuId, Integer> gpuIds = new HashMap<>();
  private final PlacementPlanner planner;
  private final ReplicaManager replicas;
  private final DurableCatalog store;
  private final TimerScheduler<Command> timers;
  private final PlacementEvents events;

  /**
   * @param gpus how to reach a GPU actor (through Cluster Sharding in production, a probe in tests)
   * @param watchCluster subscribe to cluster membership (false in single-system tests without a cluster)
   */
  public static Behavior<Command> create(Function<GpuId, RecipientRef<GpuActor.Command>> gpus, boolean watchCluster) {
    return create(gpus, PlacementSettings.DEFAULTS, watchCluster);
  }

  /**
   * As {@link #create(Function, boolean)} with {@code settings} ({@code prism.placement.*}). With
   * {@code watchCluster} the catalog is also kept in Distributed Data ({@link DurableCatalog}) and
   * read back when the singleton starts.
   */
  public static Behavior<Command> create(Function<GpuId, RecipientRef<GpuActor.Command>> gpus, PlacementSettings settings, boolean watchCluster) {
    if (!watchCluster) {
      return Behaviors.withTimers(timers -> Behaviors.setup(ctx -> new GlobalPlacementActor(ctx, timers, gpus, settings, false, null)));
    }
    return Behaviors.withTimers(timers -> Behaviors.setup(ctx -> DistributedData.<Command, LWWMap<String, String>>withReplicatorMessageAdapter(
        replicator -> new GlobalPlacementActor(ctx, timers, gpus, settings, true,
            DurableCatalog.of(replicator, ctx.getSystem(), settings.catalogTimeout(), ctx.getLog())))));
  }

  private GlobalPlacementActor(ActorContext<Command> ctx, TimerScheduler<Command> timers, Function<GpuId, RecipientRef<GpuActor.Command>> gpus,
      PlacementSettings settings, boolean watchCluster, DurableCatalog store) {
    super(ctx);
    this.timers = timers;
    this.store = store;
    this.gpus = gpus;
    this.settings = settings;
    this.kvpr = new KvprPlacement(settings.tau()).withRelativeThreshold(settings.relativeTau());
    this.policy = settings.policy().equals("kvpr") ? kvpr : new MostFreeMemoryPlacement();
    this.loadReplies = ctx.messageAdapter(GpuActor.LoadReply.class, WrappedLoadReply::new);
    this.migrations = new MigrationCoordinator(gpus, loadReplies, timers, ctx.getLog(), settings);
    this.replicas = new ReplicaManager(catalog, reports, gpuIds, migrations.budget, gpus, loadReplies, settings, ctx.getLog());
    this.planner = new PlacementPlanner(catalog, reports, gpuIds, kvpr, policy, settings, migrations, gpus, loadReplies, replicas, ctx.getLog());
    this.events = new PlacementEvents(catalog, reports, gpuIds, planner, migrations, replicas, gpus, settings, timers, ctx.getLog(),
        watchCluster ? PlacementEvents.upNodes(Cluster.get(ctx.getSystem())) : java.util.Set::of);
    if (store == null) events.catalogLoaded(List.of()); // nothing to restore
    if (!settings.roundInterval().isZero()) timers.startTimerWithFixedDelay(RoundTick.INSTANCE, settings.roundInterval());
    if (!settings.replicaCheckInterval().isZero()) timers.startTimerWithFixedDelay(ReplicaTick.INSTANCE, settings.replicaCheckInterval());
    if (watchCluster) {
      ActorRef<ClusterEvent.MemberRemoved> removed = ctx.messageAdapter(ClusterEvent.MemberRemoved.class, e -> {
        Address a = e.member().address();
        return new NodeRemoved(a.host().get(), (Integer) a.port().get());
      });
      Cluster.get(ctx.getSystem()).subscriptions().tell(Subscribe.create(removed, ClusterEvent.MemberRemoved.class));
    }
    if (store != null) store.load(specs -> new CatalogLoaded(List.copyOf(specs.values())));
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(RegisterModel.class, m -> {
          if (store == null) {
            events.register(m);
            return this;
          }
          store.put(m.spec(), ok -> new CatalogStored(m, ok, 1));
          return this;
        })
        .onMessage(CatalogStored.class, m -> {
          if (m.stored()) {
            events.register(m.register());
            return this;
          }
          if (m.tries() < 3) { // a node joining or busy: try again before giving up
            store.put(m.register().spec(), ok -> new CatalogStored(m.register(), ok, m.tries() + 1));
            return this;
          }
          m.register().replyTo().tell(new RegisterFailed(m.register().spec().id(), Rejection.Kind.UNAVAILABLE, "model '" + m.register().spec().id()
              + "' was not stored in the replicated catalog by a majority of the nodes (3 tries of " + store.timeout().toMillis() + " ms); retry"));
          return this;
        })
        .onMessage(UnregisterModel.class, m -> {
          if (store == null) {
            events.unregister(m);
            return this;
          }
          store.remove(m.modelId(), ok -> new CatalogRemoved(m, ok, 1));
          return this;
        })
        .onMessage(CatalogRemoved.class, m -> {
          if (!m.stored() && m.tries() < 3) {
            store.remove(m.unregister().modelId(), ok -> new CatalogRemoved(m.unregister(), ok, m.tries() + 1));
            return this;
          }
          if (!m.stored()) getContext().getLog().warn("The removal of model {} was not acknowledged by a majority after {} tries; it spreads by gossip",
              m.unregister().modelId(), m.tries());
          events.unregister(m.unregister());
          return this;
        })
        .onMessage(CatalogLoaded.class, m -> {
          events.catalogLoaded(m.specs());
          return this;
        })
        .onMessageEquals(CatalogReadLocal.INSTANCE, () -> {
          getContext().getLog().warn("A majority of the nodes did not answer the catalog read; using this node's replica");
          store.loadLocal(specs -> new CatalogLoaded(List.copyOf(specs.values())));
          return this;
        })
        .onMessageEquals(RestoreGraceOver.INSTANCE, () -> {
          events.restoreGraceOver();
          return this;
        })
        .onMessage(Resolve.class, this::onResolve)
        .onMessage(ListModels.class, m -> {
          List<ModelInfo> out = new ArrayList<>();
          for (CatalogEntry e : catalog.values()) out.add(e.info());
          m.replyTo().tell(new ModelList(out));
          return this;
        })
        .onMessage(ListGpus.class, m -> {
          m.replyTo().tell(new GpuList(List.copyOf(reports.values())));
          return this;
        })
        .onMessage(GpuReport.class, r -> {
          events.gpuReport(r);
          return this;
        })
        .onMessage(WrappedLoadReply.class, w -> {
          events.loadReply(w.reply());
          return this;
        })
        .onMessage(ModelLost.class, m -> {
          events.modelLost(m);
          return this;
        })
        .onMessage(NodeRemoved.class, n -> {
          events.nodeRemoved(n.host(), n.port());
          return this;
        })
        .onMessageEquals(RoundTick.INSTANCE, () -> {
          round("periodic");
          return this;
        })
        .onMessageEquals(ReplicaTick.INSTANCE, () -> {
          replicas.check(planner.drainingGpus());
          return this;
        })
        .onMessage(Rebalance.class, m -> {
          round("requested");
          m.replyTo().tell(view());
          return this;
        })
        .onMessage(GetPlacement.class, m -> {
          m.replyTo().tell(view());
          return this;
        })
        .onMessage(MoveModel.class, this::onMoveModel)
        .onMessage(DrainNode.class, m -> {
          m.replyTo().tell(planner.drain(m.host(), m.port()));
          return this;
        })
        .onMessage(MigrationTimedOut.class, m -> {
          CatalogEntry e = catalog.get(m.modelId());
          if (e != null && e.migration != null && e.migration.id == m.migrationId()) {
            migrations.abandon(e, "timed-out", "the target did not load it within " + settings.loadTimeout().toSeconds() + " s", false);
          }
          return this;
        })
        .build();
  }

  private Behavior<Command> onResolve(Resolve m) {
    CatalogEntry e = catalog.get(m.modelId());
    if (e == null && !events.catalogRead()) {
      m.replyTo().tell(new Loading(m.modelId())); // a new singleton has not read the replicated catalog yet: not "not found"
    } else if (e == null) {
      m.replyTo().tell(new NotFound(m.modelId()));
    } else {
      switch (e.state) {
        case READY -> {
          if ((e.migration != null && e.migration.reactivation) || planner.reactivate(e)) m.replyTo().tell(new Loading(m.modelId()));
          else m.replyTo().tell(new Located(m.modelId(), e.info(), e.epoch, replicas.instances(e)));
        }
        case LOADING -> m.replyTo().tell(new Loading(m.modelId()));
        case FAILED -> m.replyTo().tell(new Unavailable(m.modelId(), e.message));
      }
    }
    return this;
  }

  private Behavior<Command> onMoveModel(MoveModel m) {
    planner.move(m);
    return this;
  }

  private void round(String why) {
    planner.round(why);
    replicas.check(planner.drainingGpus());
  }

  private PlacementView view() {
    return planner.view();
  }

  private void ready(CatalogEntry e, GpuId gpu, int maxModelLen, long weightBytes) {
    planner.ready(e, gpu, maxModelLen, weightBytes);
  }

  private void place(CatalogEntry e) {
    planner.place(e);
  }
}
