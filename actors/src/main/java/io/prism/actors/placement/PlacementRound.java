package io.prism.actors.placement;

import io.prism.actors.GpuId;
import io.prism.actors.placement.PlacementProtocol.GpuReport;
import io.prism.actors.placement.PlacementProtocol.Resident;
import io.prism.actors.placement.ModelInfo.State;
import io.prism.runtime.policy.GpuCapacity;
import io.prism.runtime.policy.InstanceTarget;
import io.prism.runtime.policy.KvprPlacement;
import io.prism.runtime.policy.ModelDemand;
import io.prism.runtime.policy.Move;
import io.prism.runtime.policy.Placement;
import io.prism.runtime.policy.PlacementPolicy;
import io.prism.runtime.policy.TpotColocation;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The policy's view of the live cluster, built from the catalog and the GPUs' latest reports: one
 * {@link ModelDemand} per model that serves (token rate, KV bytes per token and weights as its GPU
 * reported them, TPOT SLO from its spec) and one {@link GpuCapacity} per healthy GPU. GPUs are
 * numbered by stable ids the placement actor assigns ({@code ids}), so the {@link
 * io.prism.runtime.policy.MigrationBudget}'s books stay valid as GPUs come and go.
 *
 * <p>Weights count only while resident: an evicted (time-shared) model takes no memory from its
 * GPU until a request brings it back. A model being migrated counts as placed on its target (its
 * demand and weights go there; its source's copy leaves with the hand-off, so rounds during the
 * migration do not see a transient squeeze); the policy's proposals for it are ignored.
 *
 * <p>A model's replicas ({@link ReplicaManager}) count on their GPUs as models of their own, with the
 * demand their GPU reports for them, under ids {@code <model>}{@value #REPLICA_MARK}{@code <gpu>}
 * that match no catalog entry, so the policy's proposals for them are ignored: replicas are added
 * and removed, never migrated.
 *
 * <p>The TPOT co-location guard ({@link TpotColocation}) sees each model whose weights are resident
 * and whose GPU reported a measured decode step, with that step and its prefill chunk time.
 */
final class PlacementRound {
  final List<ModelDemand> demands = new ArrayList<>();
  final List<GpuCapacity> capacities = new ArrayList<>();
  final Map<Integer, GpuId> gpuOf = new LinkedHashMap<>();
  /** Separates a model id from its replica's GPU in the ids of replica demands. */
  static final String REPLICA_MARK = "\u0000replica@";
  private final Map<String, Double> kvDemandByModel = new HashMap<>();
  /** The TPOT guard's members of this view, by demand id: resident models with a measured decode step. */
  final Map<String, TpotColocation.Member> tpotMembers = new HashMap<>();
  private final Map<String, Integer> gpuOfDemand = new HashMap<>();

  /**
   * @param entries the catalog
   * @param reports every known GPU's latest report
   * @param ids stable policy id of each GPU (assigned by the caller, never reused)
   * @param exclude GPUs the policy must not use (e.g. ones a model failed to load on), may be empty
   * @param extra a model that is not placed yet, to place in this view (null: none)
   */
  PlacementRound(Collection<CatalogEntry> entries, Map<GpuId, GpuReport> reports, Map<GpuId, Integer> ids, Set<GpuId> exclude,
      CatalogEntry extra) {
    Map<GpuId, Long> pinned = new HashMap<>();
    for (CatalogEntry e : entries) {
      if (e.migration == null && e.gpu != null && e.state == State.LOADING && e != extra) {
        pinned.merge(e.gpu, weightsOf(e), Long::sum); // being loaded for its first placement
      }
    }
    for (GpuReport r : reports.values()) {
      // a report whose pool did not answer in time (budget 0, the GPU busy) says nothing about room: left out
      if (!r.healthy() || exclude.contains(r.gpu()) || r.budgetBytes() <= 0) continue;
      int id = ids.get(r.gpu());
      gpuOf.put(id, r.gpu());
      capacities.add(new GpuCapacity(id, Math.max(1, r.budgetBytes() - pinned.getOrDefault(r.gpu(), 0L))));
    }
    for (CatalogEntry e : entries) {
      if (e == extra || e.state != State.READY || e.gpu == null) continue;
      GpuId at = e.migration != null ? e.migration.to : e.gpu; // a moving model counts where it is going
      Integer id = ids.get(at);
      if (id == null || !gpuOf.containsKey(id)) continue;
      demands.add(demand(e.id(), e, reports.get(e.gpu), id));
      for (CatalogEntry.Replica r : e.replicas) {
        Integer rid = ids.get(r.gpu);
        if (rid == null || !gpuOf.containsKey(rid)) continue;
        demands.add(demand(e.id() + REPLICA_MARK + r.gpu.entityId(), e, reports.get(r.gpu), rid));
      }
    }
    if (extra != null) demands.add(demand(extra.id(), extra, null, -1));
    for (ModelDemand d : demands) {
      int mark = d.modelId().indexOf(REPLICA_MARK);
      kvDemandByModel.merge(mark < 0 ? d.modelId() : d.modelId().substring(0, mark), d.kvDemand(), Double::sum);
    }
  }

  /** KV demand of all instances of {@code modelId} together (bytes/s^2), as in this view. */
  double kvDemandOf(String modelId) {
    return kvDemandByModel.getOrDefault(modelId, 0.0);
  }

  /**
   * The GPUs of this view as {@link InstanceTarget} candidates (budget, resident weights and KV
   * demand of what is placed on each), without {@code exclude}; {@code preferred} marks some.
   */
  List<InstanceTarget.Candidate> candidates(Set<GpuId> exclude, java.util.function.Predicate<GpuId> preferred) {
    Map<Integer, long[]> weights = new HashMap<>();
    Map<Integer, Double> kv = new HashMap<>();
    for (ModelDemand d : demands) {
      if (!d.isPlaced()) continue;
      int g = d.currentGpus().get(0);
      weights.computeIfAbsent(g, k -> new long[1])[0] += d.weightBytes();
      kv.merge(g, d.kvDemand(), Double::sum);
    }
    List<InstanceTarget.Candidate> out = new ArrayList<>();
    for (GpuCapacity c : capacities) {
      GpuId g = gpuOf.get(c.gpuId());
      if (exclude.contains(g)) continue;
      out.add(new InstanceTarget.Candidate(c.gpuId(), c.memoryBudgetBytes(), weights.getOrDefault(c.gpuId(), new long[1])[0],
          kv.getOrDefault(c.gpuId(), 0.0), preferred.test(g)));
    }
    return out;
  }

  /** Runs {@code policy} on this view. */
  Placement place(PlacementPolicy policy) {
    return policy.place(demands, capacities);
  }

  /** KVPR of every GPU in this view as things stand (by stable id). */
  Map<Integer, Double> currentKvpr() {
    return KvprPlacement.currentKvpr(demands, capacities);
  }

  /**
   * Time sharing: the GPU for a model the policy could not place because resident models fill every
   * GPU, when some GPU's budget can hold its weights on their own: the one with the lowest KVPR
   * (ties: the most budget left beside models being loaded). Loading it there evicts idle models.
   *
   * @return null if no GPU's budget can hold {@code weightBytes}
   */
  GpuId timeShared(long weightBytes) {
    return timeShared(weightBytes, null);
  }

  /**
   * As {@link #timeShared(long)}, among the GPUs where {@code joining} keeps every TPOT SLO ({@link
   * #tpotAdmits}) if there are any, else among all.
   */
  GpuId timeShared(long weightBytes, TpotColocation.Member joining) {
    boolean anyAdmits = false;
    for (GpuCapacity c : capacities) anyAdmits |= c.memoryBudgetBytes() >= weightBytes && tpotAdmits(gpuOf.get(c.gpuId()), joining);
    Map<Integer, Double> kvpr = currentKvpr();
    GpuCapacity best = null;
    for (GpuCapacity c : capacities) {
      if (c.memoryBudgetBytes() < weightBytes) continue;
      if (anyAdmits && !tpotAdmits(gpuOf.get(c.gpuId()), joining)) continue;
      if (best == null || kvpr.get(c.gpuId()) < kvpr.get(best.gpuId())
          || (kvpr.get(c.gpuId()).equals(kvpr.get(best.gpuId())) && c.memoryBudgetBytes() > best.memoryBudgetBytes())) {
        best = c;
      }
    }
    return best == null ? null : gpuOf.get(best.gpuId());
  }

  /**
   * {@code e} as the TPOT guard sees it, from the report {@code r} of one of its instances (null:
   * no measured decode step, not guarded).
   */
  static TpotColocation.Member member(String demandId, CatalogEntry e, Resident r) {
    if (r == null || r.decodeStepNanos() <= 0) return null;
    return new TpotColocation.Member(demandId, e.spec.tpotSlo().toNanos(), r.decodeStepNanos(), Math.max(0, r.prefillChunkNanos()));
  }

  /**
   * Whether {@code joining} keeps every TPOT SLO on {@code gpu} beside the guarded models resident
   * there now ({@link TpotColocation#admits}); true for a null {@code joining}.
   */
  boolean tpotAdmits(GpuId gpu, TpotColocation.Member joining) {
    if (joining == null) return true;
    List<TpotColocation.Member> there = new ArrayList<>();
    Integer id = null;
    for (Map.Entry<Integer, GpuId> g : gpuOf.entrySet()) if (g.getValue().equals(gpu)) id = g.getKey();
    if (id == null) return true;
    for (Map.Entry<String, Integer> d : gpuOfDemand.entrySet()) {
      if (d.getValue().equals(id) && !d.getKey().equals(joining.modelId())) there.add(tpotMembers.get(d.getKey()));
    }
    return TpotColocation.admits(there, joining);
  }

  /** The GPU a move's first target id names. */
  GpuId target(Move m) {
    return gpuOf.get(m.toGpus().get(0));
  }

  private static long weightsOf(CatalogEntry e) {
    return e.weightBytes > 0 ? e.weightBytes : e.spec.estimatedBytes();
  }

  private ModelDemand demand(String demandId, CatalogEntry e, GpuReport report, int gpuId) {
    Resident r = null;
    if (report != null) for (Resident x : report.models()) if (x.spec().id().equals(e.id())) r = x;
    TpotColocation.Member member = member(demandId, e, r);
    if (member != null && r.weightsResident()) {
      tpotMembers.put(demandId, member);
      gpuOfDemand.put(demandId, gpuId);
    }
    double rate = r == null ? 0 : r.tokensPerSecond();
    long kv = r == null ? 1 : Math.max(1, r.kvBytesPerToken());
    long weights = r != null && !r.weightsResident() ? 0 : weightsOf(e);
    return ModelDemand.of(demandId, rate, kv, e.spec.tpotSlo(), weights, gpuId);
  }
}
