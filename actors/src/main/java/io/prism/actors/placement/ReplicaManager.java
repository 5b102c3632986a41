package io.prism.actors.placement;

import io.prism.actors.GpuId;
import io.prism.actors.gpu.GpuActor;
import io.prism.actors.placement.CatalogEntry.Replica;
import io.prism.actors.placement.PlacementProtocol.GpuReport;
import io.prism.actors.placement.PlacementProtocol.Instance;
import io.prism.actors.placement.PlacementProtocol.Resident;
import io.prism.actors.placement.ModelInfo.State;
import io.prism.runtime.policy.InstanceTarget;
import io.prism.runtime.policy.MigrationBudget;
import io.prism.runtime.policy.Move;
import io.prism.runtime.policy.ReplicaScaling;
import io.prism.runtime.policy.ReplicaScaling.InstanceLoad;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import java.util.function.Predicate;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.RecipientRef;
import org.slf4j.Logger;

/**
 * Replicas, the placement singleton's side (plain state owned by the {@link GlobalPlacementActor};
 * beyond the paper). A model whose spec allows {@code maxReplicas > 1} may serve from several GPUs:
 * its catalog entry's GPU (the first instance) and its {@link CatalogEntry#replicas}.
 *
 * <p><b>Checks</b> (every {@code prism.placement.replicas.check-interval} and with every placement
 * round): {@link ReplicaScaling} looks at every instance's queue and GPU KVPR from the GPUs' latest
 * reports.
 * <ul>
 *   <li><b>Add</b>: the new instance goes to the lowest-KVPR GPU that holds it ({@link
 *       InstanceTarget}; not a GPU that has, or still drains, a copy of the model), through the
 *       normal load path ({@link GpuActor.LoadModel}: the GPU makes room by reclaim). It serves once
 *       loaded: then the placement epoch goes up and lookups list it.
 *   <li><b>Remove</b>: the instance is handed off like a migration's source ({@link
 *       GpuActor.HandOff} to an instance that stays, with a new epoch): queued requests are
 *       redirected there, running ones finish, then it unloads. Removing the first instance
 *       promotes a replica to first.
 * </ul>
 * Adds and removals pass through the {@link MigrationBudget} like migrations: one per model per
 * cooldown (so an instance added is not removed within it, nor the other way round), and an add
 * counts against its GPUs' concurrent migrations until it is loaded. A model above a lowered
 * {@code maxReplicas} gives instances back without waiting for the cooldown. A replica that does
 * not load within {@code load-timeout} is dropped.
 *
 * <p><b>Loss.</b> A lost GPU loses only its instance: a replica is dropped; a lost first instance
 * is replaced by a ready replica (no reload), or by a loading one (the model is loading until it
 * is). Migrations move one instance (the first): their targets exclude GPUs with an instance.
 */
final class ReplicaManager {
  private final Map<String, CatalogEntry> catalog;
  private final Map<GpuId, GpuReport> reports;
  private final Map<GpuId, Integer> gpuIds;
  private final ReplicaScaling policy;
  private final MigrationBudget budget;
  private final Function<GpuId, RecipientRef<GpuActor.Command>> gpus;
  private final ActorRef<GpuActor.LoadReply> loadReplies;
  private final PlacementSettings settings;
  private final Logger log;
  private final ArrayDeque<PlacementView.ReplicaChange> recent = new ArrayDeque<>();
  private final long startNanos = System.nanoTime();

  ReplicaManager(Map<String, CatalogEntry> catalog, Map<GpuId, GpuReport> reports, Map<GpuId, Integer> gpuIds, MigrationBudget budget,
      Function<GpuId, RecipientRef<GpuActor.Command>> gpus, ActorRef<GpuActor.LoadReply> loadReplies, PlacementSettings settings, Logger log) {
    this.catalog = catalog;
    this.reports = reports;
    this.gpuIds = gpuIds;
    this.policy = new ReplicaScaling(settings.replicas());
    this.budget = budget;
    this.gpus = gpus;
    this.loadReplies = loadReplies;
    this.settings = settings;
    this.log = log;
  }

  /**
   * One check of every ready model that may have replicas or has some (not while it migrates).
   *
   * @param excluded GPUs that take no new instance (of nodes that are leaving)
   */
  void check(Set<GpuId> excluded) {
    if (reports.isEmpty()) return;
    long now = System.nanoTime();
    PlacementRound view = null;
    Map<Integer, Double> kvpr = null;
    for (CatalogEntry e : List.copyOf(catalog.values())) {
      if (e.state != State.READY || e.gpu == null || e.migration != null) continue;
      if (e.spec.maxReplicas() <= 1 && e.replicas.isEmpty()) continue;
      expireLoading(e, now);
      if (view == null) {
        view = new PlacementRound(catalog.values(), reports, gpuIds, Set.of(), null);
        kvpr = view.currentKvpr();
      }
      List<InstanceLoad> loads = new ArrayList<>();
      loads.add(load(e.id(), e.gpu, true, kvpr));
      for (Replica r : e.replicas) loads.add(load(e.id(), r.gpu, r.ready, kvpr));
      ReplicaScaling.Decision d = policy.decide(loads, e.spec.maxReplicas(), e.trend);
      e.trend = d.trend();
      if (d instanceof ReplicaScaling.AddInstance) {
        add(e, view, excluded, d.reason(), now);
      } else if (d instanceof ReplicaScaling.RemoveInstance r) {
        GpuId victim = gpuOf(r.gpuId());
        if (victim != null) remove(e, victim, d.reason(), now, loads.size() > e.spec.maxReplicas());
      }
    }
  }

  private InstanceLoad load(String modelId, GpuId gpu, boolean ready, Map<Integer, Double> kvpr) {
    Resident r = resident(gpu, modelId);
    Integer id = gpuIds.get(gpu);
    double k = id == null ? 0 : kvpr.getOrDefault(id, 0.0);
    return new InstanceLoad(id == null ? -1 : id, ready, r == null ? 0 : r.queued(), r == null ? 0 : r.running(), Double.isNaN(k) ? 0 : k);
  }

  private void add(CatalogEntry e, PlacementRound view, Set<GpuId> excluded, String reason, long now) {
    if (e.inherited && now - startNanos < settings.restoreGrace().toNanos()) {
      log.debug("Model {} is overloaded ({}) but GPUs may still report instances of the previous singleton: none added yet", e.id(), reason);
      return;
    }
    if (budget.coolingDown(e.id(), now)) {
      log.debug("Model {} is overloaded but in its cooldown: no instance added yet ({})", e.id(), reason);
      return;
    }
    Set<GpuId> exclude = new HashSet<>(excluded);
    for (GpuReport r : reports.values()) if (resident(r.gpu(), e.id()) != null) exclude.add(r.gpu()); // has a copy, or still drains one
    exclude.add(e.gpu);
    for (Replica r : e.replicas) exclude.add(r.gpu);
    int instances = 1 + e.replicas.size();
    long weights = e.weightBytes > 0 ? e.weightBytes : e.spec.estimatedBytes();
    Optional<InstanceTarget.Candidate> best = InstanceTarget.choose(view.candidates(exclude, g -> false), weights,
        view.kvDemandOf(e.id()) / (instances + 1));
    if (best.isEmpty()) {
      log.info("Model {} is overloaded ({}) but no other GPU can hold another instance", e.id(), reason);
      return;
    }
    GpuId to = view.gpuOf.get(best.get().gpuId());
    Move move = new Move(e.id(), List.of(gpuIds.get(e.gpu)), List.of(best.get().gpuId()), "replica: " + reason);
    if (budget.admit(List.of(move), now).isEmpty()) return; // a GPU already takes part in as many migrations as it may
    budget.started(move, now);
    e.replicas.add(new Replica(to, move));
    e.trend = ReplicaScaling.Trend.NONE;
    note(e.id(), to, "adding", reason);
    log.info("Adding an instance of model {} on {} ({})", e.id(), to, reason);
    gpus.apply(to).tell(new GpuActor.LoadModel(e.spec, loadReplies));
  }

  private void remove(CatalogEntry e, GpuId victim, String reason, long now, boolean excess) {
    if (!excess && budget.coolingDown(e.id(), now)) return;
    Replica gone;
    if (victim.equals(e.gpu)) { // the first instance goes: a ready replica takes its place
      gone = null;
      for (Replica r : e.replicas) if (r.ready && gone == null) gone = r;
      if (gone == null) return;
      e.replicas.remove(gone);
      e.gpu = gone.gpu;
    } else {
      gone = e.replicaOn(victim);
      if (gone == null) return;
      e.replicas.remove(gone);
      if (!gone.ready) {
        budget.finished(gone.move);
        gpus.apply(victim).tell(new GpuActor.UnloadModel(e.id()));
        note(e.id(), victim, "removed", reason + " (it was loading)");
        return;
      }
    }
    Move move = new Move(e.id(), List.of(gpuIds.get(victim)), List.of(gpuIds.get(e.gpu)), "replica removed: " + reason);
    budget.started(move, now); // the cooldown counts from here; nothing loads
    budget.finished(move);
    e.epoch++;
    e.trend = ReplicaScaling.Trend.NONE;
    note(e.id(), victim, "removed", reason);
    log.info("Removing the instance of model {} on {} ({}); it hands off to {}", e.id(), victim, reason, e.gpu);
    gpus.apply(victim).tell(new GpuActor.HandOff(e.id(), e.gpu, e.epoch, settings.drainTimeout()));
  }

  /**
   * A ready instance of {@code e} found on {@code gpu} by its GPU's first report (after a singleton
   * failover): it joins as a ready replica with a new epoch. Above the catalog's {@code maxReplicas}
   * the next {@link #check} gives the excess back (hand-off, no cooldown).
   */
  void adopt(CatalogEntry e, GpuId gpu) {
    e.inherited = true;
    Integer from = gpuIds.get(e.gpu);
    Integer to = gpuIds.get(gpu);
    Replica r = new Replica(gpu, new Move(e.id(), from == null ? List.of() : List.of(from), List.of(to), "adopted"));
    r.ready = true;
    e.replicas.add(r);
    e.epoch++;
    note(e.id(), gpu, "adopted", "its GPU reports it; the first instance is on " + e.gpu + " (max replicas " + e.spec.maxReplicas() + ")");
    log.info("Model {}: adopted its instance on {} as a replica (first on {}, max replicas {})", e.id(), gpu, e.gpu, e.spec.maxReplicas());
  }

  /** Drops replicas that did not load within {@code load-timeout}. */
  private void expireLoading(CatalogEntry e, long now) {
    for (Replica r : List.copyOf(e.replicas)) {
      if (r.ready || now - r.startNanos < settings.loadTimeout().toNanos()) continue;
      e.replicas.remove(r);
      budget.finished(r.move);
      gpus.apply(r.gpu).tell(new GpuActor.UnloadModel(e.id()));
      note(e.id(), r.gpu, "failed", "not loaded within " + settings.loadTimeout().toSeconds() + " s");
    }
  }

  /**
   * A load reply from a GPU: if it is about a replica of {@code e} being loaded, handles it and
   * returns true (loaded: the replica serves, the epoch goes up; failed: dropped).
   */
  boolean onLoadReply(CatalogEntry e, GpuActor.LoadReply reply) {
    Replica r = e.replicaOn(reply.gpu());
    if (r == null) return false;
    if (r.ready) return true;
    budget.finished(r.move);
    if (reply instanceof GpuActor.ModelLoaded) {
      r.ready = true;
      e.epoch++;
      note(e.id(), r.gpu, "added", "serving (epoch " + e.epoch + ")");
      log.info("Model {} serves on {} too (epoch {})", e.id(), r.gpu, e.epoch);
    } else {
      e.replicas.remove(r);
      note(e.id(), r.gpu, "failed", ((GpuActor.LoadFailed) reply).reason());
      log.warn("Model {}: the instance on {} did not load: {}", e.id(), r.gpu, ((GpuActor.LoadFailed) reply).reason());
    }
    return true;
  }

  /** The model was unregistered: every replica unloads. */
  void removeAll(CatalogEntry e) {
    for (Replica r : e.replicas) {
      if (!r.ready) budget.finished(r.move);
      gpus.apply(r.gpu).tell(new GpuActor.UnloadModel(e.id()));
    }
    e.replicas.clear();
  }

  /** New SLOs or limits: every replica's GPU takes them too. */
  void updated(CatalogEntry e) {
    for (Replica r : e.replicas) gpus.apply(r.gpu).tell(new GpuActor.UpdateModel(e.spec));
  }

  /** Drops the replicas on GPUs that are {@code gone} (they lost them); true if any was. */
  boolean lost(CatalogEntry e, Predicate<GpuId> gone, String why) {
    boolean any = false;
    for (Replica r : List.copyOf(e.replicas)) {
      if (!gone.test(r.gpu)) continue;
      e.replicas.remove(r);
      if (!r.ready) budget.finished(r.move);
      note(e.id(), r.gpu, "lost", why);
      log.warn("Model {} lost its instance on {} ({})", e.id(), r.gpu, why);
      any = true;
    }
    if (any) e.epoch++;
    return any;
  }

  /**
   * {@code e}'s first instance is lost: a ready replica takes its place (the model keeps serving,
   * new epoch), or else a loading one (the model is loading until it is). False if it has none.
   */
  boolean takeOver(CatalogEntry e) {
    Replica next = null;
    for (Replica r : e.replicas) if (r.ready && next == null) next = r;
    if (next == null && !e.replicas.isEmpty()) next = e.replicas.get(0);
    if (next == null) return false;
    e.replicas.remove(next);
    e.gpu = next.gpu;
    e.epoch++;
    if (!next.ready) {
      budget.finished(next.move);
      e.state = State.LOADING;
    }
    log.warn("Model {} now serves first from its instance on {}", e.id(), e.gpu);
    return true;
  }

  /**
   * Node leaving ({@code leaving} GPUs): replicas there are handed off to the first instance; a
   * first instance there is replaced by a ready replica elsewhere. True if {@code e} no longer
   * has its first instance on a leaving GPU because of this.
   */
  boolean drainFrom(CatalogEntry e, Set<GpuId> leaving) {
    boolean moved = false;
    if (e.gpu != null && leaving.contains(e.gpu) && e.migration == null) {
      for (Replica r : e.replicas) {
        if (r.ready && !leaving.contains(r.gpu)) {
          e.replicas.remove(r);
          e.replicas.add(0, r); // the one that takes over
          remove(e, e.gpu, "its node is leaving", System.nanoTime(), true);
          moved = true;
          break;
        }
      }
    }
    for (Replica r : List.copyOf(e.replicas)) if (leaving.contains(r.gpu)) remove(e, r.gpu, "its node is leaving", System.nanoTime(), true);
    return moved;
  }

  /** Every ready instance of {@code e} with the load its GPU last reported (the first instance first). */
  List<Instance> instances(CatalogEntry e) {
    List<Instance> out = new ArrayList<>();
    out.add(instance(e.id(), e.gpu));
    for (Replica r : e.replicas) if (r.ready) out.add(instance(e.id(), r.gpu));
    return out;
  }

  private Instance instance(String modelId, GpuId gpu) {
    Resident r = resident(gpu, modelId);
    return r == null ? new Instance(gpu, 0, 0, true) : new Instance(gpu, r.queued(), r.running(), r.weightsResident());
  }

  /** Recent replica changes, oldest first. */
  List<PlacementView.ReplicaChange> recent() {
    return List.copyOf(recent);
  }

  private Resident resident(GpuId gpu, String modelId) {
    GpuReport rep = reports.get(gpu);
    if (rep == null) return null;
    for (Resident x : rep.models()) if (x.spec().id().equals(modelId)) return x;
    return null;
  }

  private GpuId gpuOf(int id) {
    for (Map.Entry<GpuId, Integer> g : gpuIds.entrySet()) if (g.getValue() == id) return g.getKey();
    return null;
  }

  private void note(String modelId, GpuId gpu, String change, String reason) {
    recent.addLast(new PlacementView.ReplicaChange(modelId, gpu, change, System.currentTimeMillis(), reason));
    while (recent.size() > settings.recentMigrations()) recent.removeFirst();
  }
}
