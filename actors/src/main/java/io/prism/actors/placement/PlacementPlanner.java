package io.prism.actors.placement;

import io.prism.actors.GpuId;
import io.prism.actors.gpu.GpuActor;
import io.prism.runtime.engine.Rejection;
import io.prism.runtime.policy.PlacementPolicy;
import io.prism.actors.placement.ModelInfo.State;
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
  private long rounds;
  private String lastRound = "";

  PlacementPlanner(Map<String, CatalogEntry> catalog, Map<GpuId, GlobalPlacementActor.GpuReport> reports, Map<GpuId, Integer> gpuIds,
      KvprPlacement kvpr, PlacementPolicy policy, PlacementSettings settings, MigrationCoordinator migrations,
      Function<GpuId, RecipientRef<GpuActor.Command>> gpus,
      ActorRef<GpuActor.LoadReply> loadReplies, Logger log) {
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
    PlacementRound view = new PlacementRound(catalog.values(), reports, gpuIds, java.util.Set.of(), null);
    if (view.demands.isEmpty()) return;
    Placement plan = view.place(kvpr);
    long now = System.nanoTime();
    List<Move> proposed = new ArrayList<>();
    for (Move mv : plan.migrations()) {
      CatalogEntry e = catalog.get(mv.modelId());
      if (e != null && e.migration == null && e.state == State.READY) proposed.add(mv);
    }
    List<Move> allowed = migrations.budget.admit(proposed, now, view.currentKvpr());
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

  PlacementView view() {
    PlacementRound round = new PlacementRound(catalog.values(), reports, gpuIds, java.util.Set.of(), null);
    Map<Integer, Double> kvprById = round.currentKvpr();
    List<PlacementView.GpuRow> rows = new ArrayList<>();
    for (GlobalPlacementActor.GpuReport r : reports.values()) {
      List<PlacementView.ModelRow> models = new ArrayList<>();
      for (GlobalPlacementActor.Resident x : r.models()) {
        CatalogEntry e = catalog.get(x.spec().id());
        if (e == null || !r.gpu().equals(e.gpu)) continue;
        models.add(new PlacementView.ModelRow(x.spec().id(), x.tokensPerSecond(), x.kvBytesPerToken(), x.weightBytes(), x.weightsResident(),
            x.queued(), x.running()));
      }
      rows.add(new PlacementView.GpuRow(r.gpu(), r.description(), r.healthy(), kvprById.getOrDefault(gpuIds.get(r.gpu()), 0.0), r.budgetBytes(),
          r.freeBytes(), models));
    }
    return new PlacementView(rows, MigrationCoordinator.inFlight(catalog.values()), migrations.recent(), migrations.byOutcome(),
        migrations.secondsSum(), rounds, lastRound);
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
    PlacementRound view = new PlacementRound(catalog.values(), reports, gpuIds, e.tried, e);
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
