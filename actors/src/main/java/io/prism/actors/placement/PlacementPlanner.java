package io.prism.actors.placement;

import io.prism.actors.GpuId;
import io.prism.actors.gpu.GpuActor;
import io.prism.runtime.engine.Rejection;
import io.prism.runtime.policy.PlacementPolicy;
import io.prism.actors.placement.ModelInfo.State;
import io.prism.runtime.policy.InstanceTarget;
import io.prism.runtime.policy.KvprPlacement;
import io.prism.runtime.policy.Move;
import io.prism.runtime.policy.Placement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.RecipientRef;
import org.slf4j.Logger;

/**
 * The placement singleton's rounds, manual moves and view (plain state owned by the {@link
 * GlobalPlacementActor}, over its catalog and GPU reports): a round runs {@link KvprPlacement} on
 * the live demand ({@link PlacementRound}), passes the proposed migrations through the {@link
 * io.prism.runtime.policy.MigrationBudget} (hottest source GPU first) and starts the allowed ones
 * with the {@link MigrationCoordinator}.
 */
final class PlacementPlanner {
  private final Map<String, CatalogEntry> catalog;
  private final Map<GpuId, GlobalPlacementActor.GpuReport> reports;
  private final Map<GpuId, Integer> gpuIds;
  private final KvprPlacement kvpr;
  private final PlacementSettings settings;
  private final MigrationCoordinator migrations;
  private final PlacementPolicy policy;
  private final Function<GpuId, RecipientRef<GpuActor.Command>> gpus;
  private final ActorRef<GpuActor.LoadReply> loadReplies;
  private final Logger log;
  private final ReplicaManager replicas;
  private long rounds;
  private String lastRound = "";
  /** Nodes ({@code host:port}) leaving the cluster: their GPUs get no new model. */
  private final java.util.Set<String> drainingNodes = new java.util.HashSet<>();

  PlacementPlanner(Map<String, CatalogEntry> catalog, Map<GpuId, GlobalPlacementActor.GpuReport> reports, Map<GpuId, Integer> gpuIds,
      KvprPlacement kvpr, PlacementPolicy policy, PlacementSettings settings, MigrationCoordinator migrations,
      Function<GpuId, RecipientRef<GpuActor.Command>> gpus,
      ActorRef<GpuActor.LoadReply> loadReplies, ReplicaManager replicas, Logger log) {
    this.replicas = replicas;
    this.policy = policy;
    this.gpus = gpus;
    this.loadReplies = loadReplies;
    this.catalog = catalog;
    this.reports = reports;
    this.gpuIds = gpuIds;
    this.kvpr = kvpr;
    this.settings = settings;
    this.migrations = migrations;
    this.log = log;
  }

  /** Starts {@code m}'s migration, or refuses it at once (typed). */
  void move(GlobalPlacementActor.MoveModel m) {
    CatalogEntry e = catalog.get(m.modelId());
    GlobalPlacementActor.GpuReport target = reports.get(m.gpu());
    if (e == null) {
      m.replyTo().tell(new GlobalPlacementActor.MoveFailed(m.modelId(), GlobalPlacementActor.MoveProblem.UNKNOWN_MODEL, "The model '" + m.modelId() + "' does not exist"));
    } else if (target == null) {
      m.replyTo().tell(new GlobalPlacementActor.MoveFailed(m.modelId(), GlobalPlacementActor.MoveProblem.UNKNOWN_GPU, "no GPU " + m.gpu() + " reports to the placement"));
    } else if (e.state != State.READY || e.migration != null) {
      m.replyTo().tell(new GlobalPlacementActor.MoveFailed(m.modelId(), GlobalPlacementActor.MoveProblem.BUSY, "model '" + m.modelId() + "' is "
          + (e.migration != null ? "already moving to " + e.migration.to : e.state.name().toLowerCase(java.util.Locale.ROOT))));
    } else if (m.gpu().equals(e.gpu)) {
      m.replyTo().tell(new GlobalPlacementActor.Moved(m.modelId(), e.gpu, e.gpu, 0));
    } else if (e.hasInstanceOn(m.gpu())) {
      m.replyTo().tell(new GlobalPlacementActor.MoveFailed(m.modelId(), GlobalPlacementActor.MoveProblem.BUSY, "model '" + m.modelId()
          + "' already has an instance on " + m.gpu()));
    } else if (e.weightBytes > target.budgetBytes()) {
      m.replyTo().tell(new GlobalPlacementActor.MoveFailed(m.modelId(), GlobalPlacementActor.MoveProblem.DOES_NOT_FIT, "model '" + m.modelId() + "' needs " + e.weightBytes
          + " bytes of weights; GPU " + m.gpu() + " has a budget of " + target.budgetBytes()));
    } else {
      Move move = new Move(e.id(), List.of(gpuIds.get(e.gpu)), List.of(gpuIds.get(m.gpu())), "manual");
      migrations.start(e, m.gpu(), move, "manual", m.replyTo());
    }
  }

  /** Runs a placement round over the live demand and starts the migrations the budget allows. */
  void round(String why) {
    if (reports.isEmpty() || !settings.policy().equals("kvpr")) return;
    PlacementRound view = new PlacementRound(catalog.values(), reports, gpuIds, drainingGpus(), null);
    if (view.demands.isEmpty()) return;
    Placement plan = view.place(settings.tpotGuard() ? kvpr.withTpotGuard(view.tpotMembers) : kvpr);
    long now = System.nanoTime();
    List<Move> proposed = new ArrayList<>();
    for (Move mv : plan.migrations()) {
      CatalogEntry e = catalog.get(mv.modelId()); // null for replicas' demands: they are never migrated
      GpuId to = view.target(mv);
      if (e != null && e.migration == null && e.state == State.READY && to != null && !e.hasInstanceOn(to)) proposed.add(mv);
    }
    List<Move> allowed = migrations.budget.admitByReduction(proposed, now, view.demands, view.capacities); // the largest KVPR reduction first
    rounds++;
    lastRound = why + ": " + plan.reason() + "; " + allowed.size() + " of " + proposed.size() + " migrations within the budget";
    for (Move mv : allowed) {
      CatalogEntry e = catalog.get(mv.modelId());
      GpuId to = view.target(mv);
      if (e == null || to == null || e.migration != null || e.state != State.READY) continue;
      migrations.start(e, to, mv, mv.reason(), null);
    }
    if (!allowed.isEmpty()) log.info("Placement round ({})", lastRound);
  }

  /**
   * A GPU joined (a node started or came back): when the KVPR round moved nothing to it (idle models
   * all have KVPR 0), models move to it from the GPUs holding the most ready models, one at a time
   * per source, while that evens out the count (the source keeps at least one more than the joined
   * GPU gets) and its budget holds their weights; the {@link io.prism.runtime.policy.MigrationBudget}
   * bounds them like any other migration. So a node that rejoins gets models back.
   */
  void spreadTo(GpuId joined) {
    GlobalPlacementActor.GpuReport target = reports.get(joined);
    if (target == null || target.budgetBytes() <= 0 || !target.healthy() || drainingGpus().contains(joined)) return;
    Map<GpuId, List<CatalogEntry>> byGpu = new java.util.TreeMap<>();
    for (CatalogEntry e : catalog.values()) {
      GpuId at = e.migration != null ? e.migration.to : e.gpu;
      if (at != null && e.state == State.READY) byGpu.computeIfAbsent(at, g -> new ArrayList<>()).add(e);
    }
    int onTarget = byGpu.getOrDefault(joined, List.of()).size();
    long room = target.freeBytes();
    List<Move> proposed = new ArrayList<>();
    for (Map.Entry<GpuId, List<CatalogEntry>> g : byGpu.entrySet()) {
      if (g.getKey().equals(joined) || g.getValue().size() < onTarget + 2) continue;
      for (CatalogEntry e : g.getValue()) {
        if (e.migration != null || e.weightBytes > room || e.hasInstanceOn(joined)) continue;
        proposed.add(new Move(e.id(), List.of(gpuIds.get(e.gpu)), List.of(gpuIds.get(joined)), "spread to joined GPU " + joined));
        room -= e.weightBytes;
        onTarget++;
        break;
      }
    }
    if (proposed.isEmpty()) return;
    for (Move mv : migrations.budget.admit(proposed, System.nanoTime())) {
      CatalogEntry e = catalog.get(mv.modelId());
      if (e != null && e.migration == null && e.state == State.READY) migrations.start(e, joined, mv, mv.reason(), null);
    }
  }

  /**
   * Reactivation where it fits (the paper reactivates evicted models on the lowest-KVPR GPU): a
   * lookup of {@code e}, ready with one instance whose weights its GPU reports evicted, picks the
   * GPU for its weights with {@link InstanceTarget}: GPUs of the same node first (the weights are
   * in that node's host memory), then the lowest KVPR with the model added. If that is not where
   * the model is, the model moves there by the live-migration path: the target loads it (making
   * room by reclaim), routing flips, and the evicted copy's GPU hands off and unloads it
   * (releasing its host copy); lookups answer "loading" until then. Reactivations pass through
   * the {@link io.prism.runtime.policy.MigrationBudget} like migrations (refused: reactivated in
   * place). Not with the {@code most-free} policy, not for models with replicas.
   *
   * @return whether a reactivation elsewhere started
   */
  boolean reactivate(CatalogEntry e) {
    if (!settings.policy().equals("kvpr") || e.state != State.READY || e.migration != null || !e.replicas.isEmpty() || e.gpu == null) return false;
    GlobalPlacementActor.Resident evicted = residentOf(e);
    if (evicted == null || evicted.weightsResident()) return false;
    java.util.Set<GpuId> exclude = new java.util.HashSet<>(drainingGpus());
    for (GlobalPlacementActor.GpuReport r : reports.values()) { // another GPU still draining a copy cannot load it again yet
      if (!r.gpu().equals(e.gpu) && r.models().stream().anyMatch(x -> x.spec().id().equals(e.id()))) exclude.add(r.gpu());
    }
    PlacementRound view = new PlacementRound(catalog.values(), reports, gpuIds, exclude, e); // e as unplaced: its own demand counts nowhere
    String node = e.gpu.host() + ":" + e.gpu.port();
    long weights = e.weightBytes > 0 ? e.weightBytes : e.spec.estimatedBytes();
    double demand = evicted.tokensPerSecond() * Math.max(1, evicted.kvBytesPerToken()) / (e.spec.tpotSlo().toNanos() / 1e9);
    List<InstanceTarget.Candidate> candidates = view.candidates(java.util.Set.of(), g -> (g.host() + ":" + g.port()).equals(node));
    io.prism.runtime.policy.TpotColocation.Member member = settings.tpotGuard() ? PlacementRound.member(e.id(), e, evicted) : null;
    List<InstanceTarget.Candidate> keeping = candidates.stream().filter(c -> view.tpotAdmits(view.gpuOf.get(c.gpuId()), member)).toList();
    java.util.Optional<InstanceTarget.Candidate> best = InstanceTarget.choose(keeping.isEmpty() ? candidates : keeping, weights, demand);
    GpuId to = best.map(c -> view.gpuOf.get(c.gpuId())).orElse(null);
    if (to == null || to.equals(e.gpu)) return false;
    String reason = String.format(java.util.Locale.ROOT, "reactivate where it fits: KVPR %.4g on %s with it, %s", best.get().kvprWith(weights, demand),
        to, to.host().equals(e.gpu.host()) && to.port() == e.gpu.port() ? "same node" : "another node (no GPU of its node holds it)");
    Move mv = new Move(e.id(), List.of(gpuIds.get(e.gpu)), List.of(gpuIds.get(to)), reason);
    if (migrations.budget.admit(List.of(mv), System.nanoTime()).isEmpty()) return false;
    migrations.start(e, to, mv, reason, null, true);
    return true;
  }

  /** What {@code e}'s GPU last reported of it (null: no report names it). */
  private GlobalPlacementActor.Resident residentOf(CatalogEntry e) {
    GlobalPlacementActor.GpuReport r = e.gpu == null ? null : reports.get(e.gpu);
    return r == null ? null : r.models().stream().filter(x -> x.spec().id().equals(e.id())).findFirst().orElse(null);
  }

  /** GPUs of nodes that are leaving. */
  java.util.Set<GpuId> drainingGpus() {
    java.util.Set<GpuId> out = new java.util.HashSet<>();
    for (GpuId g : reports.keySet()) if (drainingNodes.contains(g.host() + ":" + g.port())) out.add(g);
    return out;
  }

  /** The node left (or is gone): forget that it was draining. */
  void nodeGone(String host, int port) {
    drainingNodes.remove(host + ":" + port);
  }

  /**
   * Node {@code host:port} is leaving gracefully: its GPUs take no new model, and every model on
   * them moves by live migration to the GPU the policy picks among the others (the source drains
   * its requests as in any migration); migrations towards the node are abandoned.
   *
   * @return the models moving away, and those that stay (no other GPU can hold them, or busy)
   */
  GlobalPlacementActor.DrainStarted drain(String host, int port) {
    drainingNodes.add(host + ":" + port);
    java.util.Set<GpuId> leaving = drainingGpus();
    List<String> moving = new ArrayList<>();
    List<String> staying = new ArrayList<>();
    for (CatalogEntry e : catalog.values()) {
      if (e.migration != null && leaving.contains(e.migration.to)) migrations.abandon(e, "abandoned", "its target's node is leaving", false);
      if (replicas.drainFrom(e, leaving)) { // a replica elsewhere serves on; the leaving instance hands off to it
        moving.add(e.id());
        continue;
      }
      if (e.gpu == null || !leaving.contains(e.gpu)) continue;
      if (e.migration != null) {
        moving.add(e.id());
        continue;
      }
      if (e.state != State.READY) {
        staying.add(e.id());
        continue;
      }
      java.util.Set<GpuId> exclude = new java.util.HashSet<>(leaving);
      for (CatalogEntry.Replica r : e.replicas) exclude.add(r.gpu);
      PlacementRound view = new PlacementRound(catalog.values(), reports, gpuIds, exclude, e);
      Placement plan = view.capacities.isEmpty() ? null : view.place(policy);
      List<Integer> chosen = plan == null ? null : plan.assignment().get(e.id());
      GpuId to = chosen == null || chosen.isEmpty() ? null : view.gpuOf.get(chosen.get(0));
      if (to == null) to = view.timeShared(e.weightBytes, settings.tpotGuard() ? PlacementRound.member(e.id(), e, residentOf(e)) : null);
      if (to == null) {
        staying.add(e.id());
        continue;
      }
      migrations.start(e, to, new Move(e.id(), List.of(gpuIds.get(e.gpu)), List.of(gpuIds.get(to)), "drain"), "node " + host + ":" + port
          + " is leaving", null);
      moving.add(e.id());
    }
    log.info("Node {}:{} is leaving: moving {} elsewhere; staying until it leaves: {}", host, port, moving, staying);
    return new GlobalPlacementActor.DrainStarted(moving, staying);
  }

  PlacementView view() {
    PlacementRound round = new PlacementRound(catalog.values(), reports, gpuIds, java.util.Set.of(), null);
    Map<Integer, Double> kvprById = round.currentKvpr();
    List<PlacementView.GpuRow> rows = new ArrayList<>();
    for (GlobalPlacementActor.GpuReport r : reports.values()) {
      List<PlacementView.ModelRow> models = new ArrayList<>();
      for (GlobalPlacementActor.Resident x : r.models()) {
        CatalogEntry e = catalog.get(x.spec().id());
        if (e == null || !r.gpu().equals(e.gpu) && (e.replicaOn(r.gpu()) == null || !e.replicaOn(r.gpu()).ready)) continue;
        models.add(new PlacementView.ModelRow(x.spec().id(), x.tokensPerSecond(), x.kvBytesPerToken(), x.weightBytes(), x.weightsResident(),
            x.queued(), x.running()));
      }
      rows.add(new PlacementView.GpuRow(r.gpu(), r.description(), r.healthy(), kvprById.getOrDefault(gpuIds.get(r.gpu()), 0.0), r.budgetBytes(),
          r.freeBytes(), models));
    }
    return new PlacementView(rows, MigrationCoordinator.inFlight(catalog.values()), migrations.recent(), migrations.byOutcome(),
        migrations.secondsSum(), rounds, lastRound, replicas.recent());
  }

  /** The entry serves on {@code gpu}: its waiters hear it. */
  void ready(CatalogEntry e, GpuId gpu, int maxModelLen, long weightBytes) {
    e.state = State.READY;
    e.gpu = gpu;
    e.maxModelLen = maxModelLen;
    e.weightBytes = weightBytes;
    e.message = "";
    log.info("Model {} is ready on {}", e.spec.id(), gpu);
    ModelInfo info = e.info();
    e.registerWaiters.forEach(r -> r.tell(new GlobalPlacementActor.Registered(info)));
    e.registerWaiters.clear();
  }

  /** Chooses a GPU for a LOADING entry without one and asks it to load; fails the entry if none fits. */
  void place(CatalogEntry e) {
    if (reports.isEmpty()) return; // wait for the first GPU
    java.util.Set<GpuId> exclude = new java.util.HashSet<>(e.tried);
    exclude.addAll(drainingGpus());
    PlacementRound view = new PlacementRound(catalog.values(), reports, gpuIds, exclude, e);
    if (view.capacities.isEmpty() && reports.values().stream().anyMatch(r -> !e.tried.contains(r.gpu()) && r.budgetBytes() <= 0)) {
      return; // only incomplete reports so far: wait for the next one
    }
    Placement plan = view.capacities.isEmpty() ? null : view.place(policy);
    List<Integer> chosen = plan == null ? null : plan.assignment().get(e.spec.id());
    GpuId target = chosen == null || chosen.isEmpty() ? null : view.gpuOf.get(chosen.get(0));
    String reason = plan == null ? "" : plan.reason();
    if (target == null) { // every GPU is full of resident models: time-share one (its idle models make room)
      target = view.timeShared(e.weightBytes > 0 ? e.weightBytes : e.spec.estimatedBytes());
      reason = "time-shared: no GPU has room beside its resident models";
    }
    if (target == null) {
      e.state = State.FAILED;
      e.message = "no GPU can hold model '" + e.spec.id() + "' (about " + e.spec.estimatedBytes() + " bytes of weights)"
          + (e.failures.isEmpty() ? "" : "; " + String.join("; ", e.failures));
      log.warn(e.message);
      e.registerWaiters.forEach(r -> r.tell(new GlobalPlacementActor.RegisterFailed(e.spec.id(), Rejection.Kind.UNAVAILABLE, e.message)));
      e.registerWaiters.clear();
      return;
    }
    e.gpu = target;
    log.info("Placing model {} on {} ({})", e.spec.id(), e.gpu, reason);
    gpus.apply(e.gpu).tell(new GpuActor.LoadModel(e.spec, loadReplies));
  }
}
