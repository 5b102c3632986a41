package io.prism.actors.placement;

import io.prism.actors.GpuId;
import io.prism.actors.ModelSpec;
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
 * yet); every other GPU that reports a copy of a model keeps it as a replica ({@link ReplicaManager#adopt}).
 *
 * <p>Its messages are in {@link PlacementProtocol} (this class implements it, so {@code
 * GlobalPlacementActor.RegisterModel} names them too); its timer, adapter and store messages are
 * its own, below. The work is in plain helpers owned by this actor: {@link PlacementEvents} (what
 * it learns), {@link PlacementPlanner} (where models go), {@link MigrationCoordinator} and {@link
 * ReplicaManager}.
 */
public final class GlobalPlacementActor extends AbstractBehavior<PlacementProtocol.Command> implements PlacementProtocol {
  record WrappedLoadReply(GpuActor.LoadReply reply) implements Command {}

  record NodeRemoved(String host, int port) implements Command {}

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
}
