package io.prism.actors.placement;

import io.prism.actors.GpuId;
import io.prism.actors.ModelSpec;
import io.prism.actors.gpu.GpuActor;
import io.prism.actors.placement.PlacementProtocol.Command;
import io.prism.actors.placement.PlacementProtocol.GpuReport;
import io.prism.actors.placement.PlacementProtocol.ModelLost;
import io.prism.actors.placement.PlacementProtocol.RegisterModel;
import io.prism.actors.placement.PlacementProtocol.UnregisterModel;
import io.prism.runtime.engine.Rejection;
import io.prism.actors.placement.PlacementProtocol.Resident;
import io.prism.actors.placement.ModelInfo.State;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Supplier;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Predicate;
import org.apache.pekko.actor.typed.RecipientRef;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.slf4j.Logger;

/**
 * What the placement singleton learns from the cluster and keeps in its catalog: GPU reports
 * (joins, restarts, models adopted after a failover), load replies, lost models and nodes, and the
 * replicated catalog a new singleton restores ({@link DurableCatalog}). Plain state owned by the
 * {@link GlobalPlacementActor} (its thread), over the same catalog and reports as its {@link
 * PlacementPlanner}, which decides where models go.
 */
final class PlacementEvents {
  private final Map<String, CatalogEntry> catalog;
  private final Map<GpuId, GpuReport> reports;
  private final Map<GpuId, Integer> gpuIds;
  private final PlacementPlanner planner;
  private final MigrationCoordinator migrations;
  private final ReplicaManager replicas;
  private final Function<GpuId, RecipientRef<GpuActor.Command>> gpus;
  private final PlacementSettings settings;
  private final TimerScheduler<Command> timers;
  private final Logger log;
  private final Supplier<Set<String>> upNodes;
  private boolean catalogRead;
  private boolean restoring;

  PlacementEvents(Map<String, CatalogEntry> catalog, Map<GpuId, GpuReport> reports, Map<GpuId, Integer> gpuIds, PlacementPlanner planner,
      MigrationCoordinator migrations, ReplicaManager replicas, Function<GpuId, RecipientRef<GpuActor.Command>> gpus, PlacementSettings settings,
      TimerScheduler<Command> timers, Logger log, Supplier<Set<String>> upNodes) {
    this.catalog = catalog;
    this.reports = reports;
    this.gpuIds = gpuIds;
    this.planner = planner;
    this.migrations = migrations;
    this.replicas = replicas;
    this.gpus = gpus;
    this.settings = settings;
    this.timers = timers;
    this.log = log;
    this.upNodes = upNodes;
  }

  /**
   * The nodes ({@code host:port}, as in {@link GpuId}) that are up and reachable in {@code cluster}'s
   * current state, for the restore grace's early end; read on the singleton's thread.
   */
  static Supplier<Set<String>> upNodes(Cluster cluster) {
    return () -> {
      Set<String> up = new HashSet<>();
      Set<Member> unreachable = new HashSet<>();
      cluster.state().getUnreachable().forEach(unreachable::add);
      for (Member m : cluster.state().getMembers()) {
        if (m.status() == MemberStatus.up() && !unreachable.contains(m)) up.add(m.address().host().get() + ":" + m.address().port().get());
      }
      return up;
    };
  }

  /**
   * A new singleton's view of the replicated catalog: models no GPU has reported yet wait {@code
   * restore-grace} for a report that they are resident (the old singleton's placements survive on
   * live GPUs), then are placed; the grace ends early once every up and reachable node has reported
   * a GPU (a node without GPUs keeps it to its full length).
   */
  void catalogLoaded(List<ModelSpec> specs) {
    catalogRead = true;
    int restored = 0;
    for (ModelSpec spec : specs) {
      if (catalog.containsKey(spec.id())) continue;
      CatalogEntry e = new CatalogEntry(spec, System.currentTimeMillis() / 1000);
      e.restored = true;
      catalog.put(spec.id(), e);
      restored++;
    }
    if (restored > 0) {
      log.info("Restored {} models from the replicated catalog; placing those no GPU reports within {} ms", restored,
          settings.restoreGrace().toMillis());
      restoring = true;
      timers.startSingleTimer(GlobalPlacementActor.RestoreGraceOver.INSTANCE, settings.restoreGrace());
      endGraceIfAllReported();
    }
  }

  /** Ends the restore grace now if every up node has reported a GPU since this singleton started. */
  private void endGraceIfAllReported() {
    if (!restoring) return;
    Set<String> up = upNodes.get();
    if (up.isEmpty()) return;
    Set<String> reported = new HashSet<>();
    for (GpuId g : reports.keySet()) reported.add(g.host() + ":" + g.port());
    if (!reported.containsAll(up)) return;
    log.info("Every up node ({}) reported its GPUs: placing the restored models none holds now, without waiting out the restore grace", up.size());
    timers.cancel(GlobalPlacementActor.RestoreGraceOver.INSTANCE);
    restoreGraceOver();
  }

  /**
   * A GPU's report. Its first one to this singleton may list models this singleton does not place
   * there yet: after a failover, those are the old singleton's instances. The first GPU to report a
   * model becomes its first instance; every other GPU whose first report lists it becomes a ready
   * replica ({@link ReplicaManager#adopt}), so no instance is dropped or loaded twice; a model over
   * its catalog {@code maxReplicas} gives the excess back at the next replica check.
   */
  void gpuReport(GpuReport r) {
    GpuReport previous = reports.put(r.gpu(), r);
    gpuIds.computeIfAbsent(r.gpu(), g -> gpuIds.size());
    if (previous != null && previous.incarnation() != r.incarnation()) {
      log.warn("GPU {} restarted; placing its models again", r.gpu());
      lost(g -> g.equals(r.gpu()), "GPU " + r.gpu() + " restarted");
    }
    for (Resident res : r.models()) {
      CatalogEntry e = catalog.get(res.spec().id());
      if (e == null) { // adopted after a singleton failover
        e = new CatalogEntry(res.spec(), System.currentTimeMillis() / 1000);
        catalog.put(res.spec().id(), e);
        e.inherited = true;
        planner.ready(e, r.gpu(), res.maxModelLen(), res.weightBytes());
      } else if (e.state != State.READY && (r.gpu().equals(e.gpu) || (e.restored && e.gpu == null))) {
        if (e.restored) e.inherited = true;
        e.restored = false;
        planner.ready(e, r.gpu(), res.maxModelLen(), res.weightBytes());
      } else if (previous == null && e.state == State.READY && !e.hasInstanceOn(r.gpu()) && (e.migration == null || !r.gpu().equals(e.migration.to))) {
        replicas.adopt(e, r.gpu()); // a GPU's first report to this singleton: a copy the old singleton placed (a replica)
      }
    }
    if (previous == null || (previous.budgetBytes() <= 0 && r.budgetBytes() > 0)) { // joined, or its first whole report
      log.info("GPU {} joined: {} ({} bytes)", r.gpu(), r.description(), r.budgetBytes());
      for (CatalogEntry e : catalog.values()) if (e.state == State.LOADING && e.gpu == null && !e.restored) planner.place(e);
      planner.round("GPU " + r.gpu() + " joined");
      replicas.check(planner.drainingGpus());
      if (settings.policy().equals("kvpr")) planner.spreadTo(r.gpu());
    }
    endGraceIfAllReported();
  }

  void loadReply(GpuActor.LoadReply reply) {
    CatalogEntry e = catalog.get(reply.modelId());
    if (e != null && replicas.onLoadReply(e, reply)) return;
    if (e != null && e.migration != null && reply.gpu().equals(e.migration.to)) {
      if (reply instanceof GpuActor.ModelLoaded l) migrations.targetReady(e, l);
      else migrations.abandon(e, "failed", ((GpuActor.LoadFailed) reply).reason(), true);
      return;
    }
    if (e == null || !reply.gpu().equals(e.gpu) || e.state == State.READY) {
      // a load this actor no longer wants (model unregistered, placed elsewhere, or an abandoned migration's target)
      if (reply instanceof GpuActor.ModelLoaded && (e == null || !reply.gpu().equals(e.gpu))) {
        gpus.apply(reply.gpu()).tell(new GpuActor.UnloadModel(reply.modelId()));
      }
      return;
    }
    if (reply instanceof GpuActor.ModelLoaded l) {
      planner.ready(e, l.gpu(), l.maxModelLen(), l.weightBytes());
    } else if (reply instanceof GpuActor.LoadFailed f) {
      log.warn("GPU {} could not load {}: {}", f.gpu(), f.modelId(), f.reason());
      e.tried.add(f.gpu());
      e.failures.add(f.gpu() + ": " + f.reason());
      e.gpu = null;
      planner.place(e);
    }
  }

  void modelLost(ModelLost m) {
    CatalogEntry e = catalog.get(m.modelId());
    if (e != null && e.migration != null && m.gpu().equals(e.migration.to)) {
      migrations.abandon(e, "failed", "the target lost it: " + m.reason(), true);
    } else if (e != null && e.replicaOn(m.gpu()) != null) {
      replicas.lost(e, g -> g.equals(m.gpu()), m.reason());
    } else if (e != null && m.gpu().equals(e.gpu)) {
      log.warn("GPU {} lost model {}: {}; placing it again", m.gpu(), m.modelId(), m.reason());
      migrations.abandon(e, "abandoned", "the source lost the model", false);
      if (replicas.takeOver(e)) return;
      e.state = State.LOADING;
      e.gpu = null;
      e.tried.add(m.gpu());
      e.failures.add(m.gpu() + ": " + m.reason());
      planner.place(e);
    }
  }

  void nodeRemoved(String host, int port) {
    reports.keySet().removeIf(g -> g.host().equals(host) && g.port() == port);
    planner.nodeGone(host, port);
    lost(g -> g.host().equals(host) && g.port() == port, "node " + host + ":" + port + " left");
  }

  private void lost(Predicate<GpuId> gone, String why) {
    for (CatalogEntry e : catalog.values()) {
      if (e.migration != null && gone.test(e.migration.to)) migrations.abandon(e, "abandoned", "target lost: " + why, true);
      replicas.lost(e, gone, why);
      if (e.gpu != null && gone.test(e.gpu)) {
        migrations.abandon(e, "abandoned", "source lost: " + why, false);
        if (replicas.takeOver(e)) continue;
        log.warn("Model {} lost its GPU {} ({}); placing it again", e.spec.id(), e.gpu, why);
        e.state = State.LOADING;
        e.gpu = null;
        e.tried.clear();
        e.failures.clear();
        planner.place(e);
      }
    }
  }

  /** Adds or updates a model in the catalog and places it; the reply waits for its load. */
  void register(RegisterModel m) {
    ModelSpec spec = m.spec();
    CatalogEntry e = catalog.get(spec.id());
    if (e != null && !e.spec.source().equals(spec.source())) {
      m.replyTo().tell(new GlobalPlacementActor.RegisterFailed(spec.id(), Rejection.Kind.INVALID_REQUEST,
          "model '" + spec.id() + "' is already registered from " + e.spec.source() + "; delete it first"));
      return;
    }
    if (e == null) {
      e = new CatalogEntry(spec, System.currentTimeMillis() / 1000);
      catalog.put(spec.id(), e);
      log.info("Registered model {} from {}", spec.id(), spec.source());
    } else if (!e.spec.equals(spec)) { // same model, new SLOs or page limits: the catalog and its GPU take them
      log.info("Model {}: SLOs and limits now {}", spec.id(), spec);
      e.spec = spec;
      if (e.gpu != null) gpus.apply(e.gpu).tell(new GpuActor.UpdateModel(spec));
      replicas.updated(e);
    }
    if (e.state == State.FAILED) {
      e.tried.clear();
      e.failures.clear();
      e.state = State.LOADING;
    }
    switch (e.state) {
      case READY -> m.replyTo().tell(new GlobalPlacementActor.Registered(e.info()));
      case LOADING -> {
        e.registerWaiters.add(m.replyTo());
        if (e.gpu == null) planner.place(e);
      }
      case FAILED -> m.replyTo().tell(new GlobalPlacementActor.RegisterFailed(spec.id(), Rejection.Kind.UNAVAILABLE, e.message));
    }
  }

  /** Removes a model and unloads every instance. */
  void unregister(UnregisterModel m) {
    CatalogEntry e = catalog.get(m.modelId());
    if (e == null) {
      m.replyTo().tell(new GlobalPlacementActor.Unregistered(m.modelId(), false));
      return;
    }
    migrations.abandon(e, "abandoned", "the model was unregistered", false);
    catalog.remove(m.modelId());
    if (e.gpu != null) gpus.apply(e.gpu).tell(new GpuActor.UnloadModel(e.spec.id()));
    replicas.removeAll(e);
    String why = "model '" + m.modelId() + "' was unregistered";
    e.registerWaiters.forEach(r -> r.tell(new GlobalPlacementActor.RegisterFailed(m.modelId(), Rejection.Kind.UNAVAILABLE, why)));
    log.info("Unregistered model {}", m.modelId());
    m.replyTo().tell(new GlobalPlacementActor.Unregistered(m.modelId(), true));
  }

  /** Whether the replicated catalog has been read (until then an unknown model may be one to restore). */
  boolean catalogRead() {
    return catalogRead;
  }

  /** The grace after a restore is over: restored models no GPU reported resident are placed. */
  void restoreGraceOver() {
    restoring = false;
    for (CatalogEntry e : catalog.values()) {
      if (e.restored && e.state == State.LOADING && e.gpu == null) {
        e.restored = false;
        planner.place(e);
      }
      e.restored = false;
    }
  }
}
