package io.prism.runtime.policy.sim;

import io.prism.runtime.policy.GpuCapacity;
import io.prism.runtime.policy.InstanceTarget;
import io.prism.runtime.policy.KvprPlacement;
import io.prism.runtime.policy.ModelDemand;
import io.prism.runtime.policy.Move;
import io.prism.runtime.policy.ReplicaScaling;
import io.prism.runtime.policy.ReplicaScaling.InstanceLoad;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Replicas in the simulator, with the server's own pure policies: every {@link #CHECK_INTERVAL_NANOS}
 * (the server's {@code prism.placement.replicas.check-interval}) {@link ReplicaScaling} with its
 * default limits looks at each instance of a model whose policy allows {@code maxReplicas > 1}; an
 * added instance goes to the GPU {@link InstanceTarget} picks (the GPUs with an instance excluded)
 * and loads like an activation; a removed one drains like a migration's source. Adds and removals
 * pass the same {@code MigrationBudget} cooldown as migrations (as {@code ReplicaManager} does).
 *
 * <p>What differs from the server, and why: the model's queue is shared by its instances (each GPU
 * takes the next request when it has room), which is what the frontends' balancing by queue length
 * approximates; an instance's "queued" is that queue divided among the ready instances. A model
 * with replicas is not migrated (the server migrates its first instance only; here it keeps the
 * simulator's one-target migration simple). Its instances' KV demands count each under its own id
 * with an equal share of the model's token rate.
 */
final class SimReplicas {
  /** How often models are checked (the server's default {@code check-interval}, 5 s). */
  static final long CHECK_INTERVAL_NANOS = 5_000_000_000L;
  private static final String REPLICA_MARK = "#replica@";

  private final Simulator sim;
  private final ReplicaScaling policy = new ReplicaScaling(ReplicaScaling.Limits.DEFAULT);

  SimReplicas(Simulator sim) {
    this.sim = sim;
  }

  /** The KV demand of serving instance {@code i}: its model's under the model id for the first instance, a share under a replica id otherwise. */
  ModelDemand demandOf(SimInstance i) {
    SimModelState m = i.model;
    int n = m.servingInstances().size();
    ModelDemand whole = sim.demand(m, i.gpu.id);
    String id = i == m.serving ? m.id() : m.id() + REPLICA_MARK + i.gpu.id;
    return ModelDemand.of(id, whole.tokenRatePerSecond() / Math.max(1, n), whole.kvBytesPerToken(), whole.tpotSlo(), whole.weightBytes(), i.gpu.id);
  }

  /** Moves relocation may make: not of replicas' demands, nor of a model that has or is adding replicas. */
  List<Move> migratable(List<Move> moves) {
    List<Move> out = new ArrayList<>();
    for (Move mv : moves) {
      SimModelState m = sim.models.get(mv.modelId());
      if (m != null && m.replicas.isEmpty() && m.addingReplica == null) out.add(mv);
    }
    return out;
  }

  /** One check of every model (then the next is scheduled). */
  void check() {
    List<ModelDemand> demands = new ArrayList<>();
    List<GpuCapacity> caps = new ArrayList<>();
    for (SimGpu g : sim.gpus) {
      long pinned = 0;
      for (SimInstance i : g.instances) {
        if (i.serving()) demands.add(demandOf(i));
        else pinned += i.weightBytes();
      }
      caps.add(new GpuCapacity(g.id, Math.max(1, g.budgetBytes - pinned)));
    }
    Map<Integer, Double> kvpr = KvprPlacement.currentKvpr(demands, caps);
    for (SimModelState m : sim.models.values()) {
      if (m.serving == null || m.activating != null) continue;
      List<SimInstance> ready = m.servingInstances();
      int queuedEach = m.queue.size() / ready.size();
      List<InstanceLoad> loads = new ArrayList<>();
      for (SimInstance i : ready) {
        loads.add(new InstanceLoad(i.gpu.id, true, queuedEach, i.running.size() + i.prefilling.size(), finite(kvpr.getOrDefault(i.gpu.id, 0.0))));
      }
      if (m.addingReplica != null) loads.add(new InstanceLoad(m.addingReplica.gpu.id, false, 0, 0, 0));
      ReplicaScaling.Decision d = policy.decide(loads, sim.policy.maxReplicas(), m.trend);
      m.trend = d.trend();
      if (d instanceof ReplicaScaling.AddInstance) add(m, demands, caps);
      else if (d instanceof ReplicaScaling.RemoveInstance r) remove(m, r.gpuId());
    }
    sim.schedule(sim.now + CHECK_INTERVAL_NANOS, this::check);
  }

  private static double finite(double k) {
    return Double.isFinite(k) ? k : Double.MAX_VALUE;
  }

  private void add(SimModelState m, List<ModelDemand> demands, List<GpuCapacity> caps) {
    if (sim.migrationBudget.coolingDown(m.id(), sim.now)) return;
    List<InstanceTarget.Candidate> candidates = new ArrayList<>();
    for (GpuCapacity c : caps) {
      SimGpu g = sim.gpus.get(c.gpuId());
      if (g.instances.stream().anyMatch(i -> i.model == m)) continue; // has an instance, or still drains one
      long weights = 0;
      double kv = 0;
      for (ModelDemand d : demands) {
        if (d.currentGpus().get(0) != g.id) continue;
        weights += d.weightBytes();
        kv += d.kvDemand();
      }
      long pinned = g.budgetBytes - c.memoryBudgetBytes(); // loading or draining weights
      candidates.add(new InstanceTarget.Candidate(g.id, g.budgetBytes, weights + pinned, kv, false));
    }
    double share = sim.demand(m, -1).kvDemand() / (m.servingInstances().size() + 1);
    Optional<InstanceTarget.Candidate> best = InstanceTarget.choose(candidates, m.spec.profile().weightBytes(), share);
    if (best.isEmpty()) return;
    SimGpu g = sim.gpus.get(best.get().gpuId());
    if (g.freeBytes() < sim.roomNeeded(m)) return; // its KV in use leaves no room now; a later check tries again
    Move mv = new Move(m.id(), List.of(m.serving.gpu.id), List.of(g.id), "replica");
    if (sim.migrationBudget.admit(List.of(mv), sim.now).isEmpty()) return;
    sim.migrationBudget.started(mv, sim.now);
    SimInstance inst = new SimInstance(m, g);
    g.instances.add(inst);
    g.weightBytes += inst.weightBytes();
    m.addingReplica = inst;
    m.trend = ReplicaScaling.Trend.NONE;
    sim.counters.activations++;
    sim.counters.replicasAdded++;
    sim.schedule(sim.now + sim.gpu.activationNanos(m.spec.profile()), () -> {
      sim.migrationBudget.finished(mv);
      inst.ready = true;
      m.addingReplica = null;
      m.replicas.add(inst);
      sim.steps.kick(g);
    });
  }

  private void remove(SimModelState m, int gpuId) {
    SimInstance victim = null;
    for (SimInstance i : m.servingInstances()) if (i.gpu.id == gpuId) victim = i;
    if (victim == null || m.servingInstances().size() < 2) return;
    boolean excess = m.servingInstances().size() > sim.policy.maxReplicas();
    if (!excess && sim.migrationBudget.coolingDown(m.id(), sim.now)) return;
    Move mv = new Move(m.id(), List.of(gpuId), List.of(m.serving == victim ? m.replicas.get(0).gpu.id : m.serving.gpu.id), "replica removed");
    sim.migrationBudget.started(mv, sim.now); // the cooldown counts from here; nothing loads
    sim.migrationBudget.finished(mv);
    if (m.serving == victim) m.serving = m.replicas.remove(0);
    else m.replicas.remove(victim);
    victim.draining = true;
    m.trend = ReplicaScaling.Trend.NONE;
    sim.counters.replicasRemoved++;
    for (SimInstance i : m.servingInstances()) sim.steps.kick(i.gpu); // its queue share goes to the others
    sim.releaseIfDrained(victim);
  }
}
