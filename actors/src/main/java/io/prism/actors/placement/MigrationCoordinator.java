package io.prism.actors.placement;

import io.prism.actors.GpuId;
import io.prism.actors.gpu.GpuActor;
import io.prism.runtime.policy.MigrationBudget;
import io.prism.runtime.policy.Move;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.RecipientRef;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.slf4j.Logger;

/**
 * Live migration, the placement singleton's side (plain state owned by the {@link
 * GlobalPlacementActor}). Moving model M from GPU A to GPU B:
 * <ol>
 *   <li>B loads M ({@link GpuActor.LoadModel}: it makes room through its own reclaim path, loads
 *       the weights from its node's host copy or the model file, measures and warms up) while A
 *       keeps serving; nothing is routed to B yet.
 *   <li>B reports ready: routing flips. The catalog's GPU becomes B with a new placement epoch, so
 *       lookups answer B; A gets {@link GpuActor.HandOff}: it redirects new and still-queued
 *       requests to B (frontends learn B from the redirect, newer epochs win) and drains its running
 *       ones, then unloads M and returns its pages.
 *   <li>If B fails to load, is lost, or does not answer within {@code load-timeout}, the migration
 *       is abandoned: M keeps serving on A, B unloads whatever it loaded.
 * </ol>
 * Unlike the paper's prototype, service never stops: A serves until B is ready.
 */
final class MigrationCoordinator {
  private final Function<GpuId, RecipientRef<GpuActor.Command>> gpus;
  private final ActorRef<GpuActor.LoadReply> loadReplies;
  private final TimerScheduler<GlobalPlacementActor.Command> timers;
  private final Logger log;
  private final PlacementSettings settings;
  final MigrationBudget budget;
  private final ArrayDeque<PlacementView.MigrationView> recent = new ArrayDeque<>();
  private final Map<String, Long> byOutcome = new TreeMap<>();
  private double secondsSum;
  private long ids;

  MigrationCoordinator(Function<GpuId, RecipientRef<GpuActor.Command>> gpus, ActorRef<GpuActor.LoadReply> loadReplies,
      TimerScheduler<GlobalPlacementActor.Command> timers, Logger log, PlacementSettings settings) {
    this.gpus = gpus;
    this.loadReplies = loadReplies;
    this.timers = timers;
    this.log = log;
    this.settings = settings;
    this.budget = new MigrationBudget(settings.limits());
  }

  /** Starts moving {@code e} (READY on its GPU) to {@code to}; {@code move} is how the budget counts it. */
  void start(CatalogEntry e, GpuId to, Move move, String reason, ActorRef<GlobalPlacementActor.MoveReply> waiter) {
    start(e, to, move, reason, waiter, false);
  }

  /** As {@link #start(CatalogEntry, GpuId, Move, String, ActorRef)}; {@code reactivation}: of an evicted model, lookups wait for it. */
  void start(CatalogEntry e, GpuId to, Move move, String reason, ActorRef<GlobalPlacementActor.MoveReply> waiter, boolean reactivation) {
    Migration m = new Migration(++ids, e.id(), e.gpu, to, move, reason, reactivation);
    if (waiter != null) m.waiters.add(waiter);
    e.migration = m;
    budget.started(move, m.startNanos);
    log.info("Migrating model {} from {} to {} ({})", e.id(), m.from, to, reason);
    gpus.apply(to).tell(new GpuActor.LoadModel(e.spec, loadReplies));
    timers.startSingleTimer("migration-" + e.id(), new GlobalPlacementActor.MigrationTimedOut(e.id(), m.id), settings.loadTimeout());
  }

  /** The target loaded the model: routing flips to it and the source hands off. */
  void targetReady(CatalogEntry e, GpuActor.ModelLoaded l) {
    Migration m = e.migration;
    e.gpu = m.to;
    e.epoch++;
    e.maxModelLen = l.maxModelLen();
    e.weightBytes = l.weightBytes();
    gpus.apply(m.from).tell(new GpuActor.HandOff(e.id(), m.to, e.epoch, settings.drainTimeout()));
    secondsSum += m.seconds();
    finish(e, "done", "serving on " + m.to + " (epoch " + e.epoch + "); " + m.from + " drains and unloads");
  }

  /**
   * Abandons {@code e}'s migration: the model stays where it is; the target unloads what it may
   * have loaded (unless {@code targetGone}).
   */
  void abandon(CatalogEntry e, String outcome, String detail, boolean targetGone) {
    Migration m = e.migration;
    if (m == null) return;
    if (!targetGone) gpus.apply(m.to).tell(new GpuActor.UnloadModel(e.id()));
    log.warn("Migration of model {} from {} to {} {}: {}", e.id(), m.from, m.to, outcome, detail);
    finish(e, outcome, detail);
  }

  private void finish(CatalogEntry e, String outcome, String detail) {
    Migration m = e.migration;
    e.migration = null;
    timers.cancel("migration-" + e.id());
    budget.finished(m.move);
    byOutcome.merge(outcome, 1L, Long::sum);
    PlacementView.MigrationView v = m.view(outcome, detail);
    recent.addLast(v);
    while (recent.size() > settings.recentMigrations()) recent.removeFirst();
    for (ActorRef<GlobalPlacementActor.MoveReply> w : m.waiters) {
      w.tell(outcome.equals("done") ? new GlobalPlacementActor.Moved(e.id(), m.from, m.to, v.seconds())
          : new GlobalPlacementActor.MoveFailed(e.id(), GlobalPlacementActor.MoveProblem.FAILED, "migration " + outcome + ": " + detail));
    }
    if (outcome.equals("done")) log.info("Model {} migrated from {} to {} in {} s", e.id(), m.from, m.to, String.format("%.3f", v.seconds()));
  }

  List<PlacementView.MigrationView> recent() {
    return List.copyOf(recent);
  }

  Map<String, Long> byOutcome() {
    return Map.copyOf(byOutcome);
  }

  double secondsSum() {
    return secondsSum;
  }

  static List<PlacementView.MigrationView> inFlight(Iterable<CatalogEntry> entries) {
    List<PlacementView.MigrationView> out = new ArrayList<>();
    for (CatalogEntry e : entries) if (e.migration != null) out.add(e.migration.view("loading", ""));
    return out;
  }
}
