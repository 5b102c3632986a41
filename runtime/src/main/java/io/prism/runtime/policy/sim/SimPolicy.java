package io.prism.runtime.policy.sim;

import io.prism.runtime.policy.IdleEvictionPolicy;
import io.prism.runtime.policy.KvprPlacement;
import io.prism.runtime.policy.MigrationBudget;
import java.time.Duration;

/**
 * The serving system under simulation, as a set of switches over one simulator. Every variant
 * starts from the same initial placement ({@link KvprPlacement} over the models' long-run mean
 * token rates, as a stand-in for each system's own offline placement); models that do not fit stay
 * unplaced.
 *
 * @param name display name
 * @param elasticKv true: the models on a GPU share its KV memory (kvcached); false: each model gets
 *     a fixed equal share of the memory its GPU has left after weights (static partition)
 * @param idleEviction true: time sharing. Under memory pressure (a KV-growing decode or an
 *     activation) reclaim through {@link io.prism.runtime.policy.ReclaimPolicy}, which evicts
 *     models idle for {@code idleThreshold} before it preempts; activate evicted or unplaced models
 *     on demand on the lowest-KVPR GPU with room. false: an unplaced model's requests fail
 * @param eagerEviction true: also evict every model idle for {@code idleThreshold} at once, needed
 *     or not (the paper's literal rule); false: only under memory pressure
 * @param relocation true: every {@code placementInterval}, re-run {@link KvprPlacement} with 60 s
 *     token rates and migrate (serving on the source until the target is ready)
 * @param deadlineAdmission true: Moore-Hodgson admission across the GPU's models (requests that can
 *     no longer meet their TTFT are rejected); false: first come first served, nothing rejected
 * @param slackPreemption true: under memory pressure preempt by SLO slack across the GPU's models
 *     ({@link io.prism.runtime.policy.DecodePreemptionPolicy}); false: preempt the model's own
 *     newest sequence (vLLM)
 * @param idleThreshold idle time before eviction
 * @param tau absolute migration threshold of {@link KvprPlacement}
 * @param relativeTau relative migration threshold ({@link KvprPlacement#withRelativeThreshold})
 * @param placementInterval how often relocation runs
 * @param migrationLimits churn bounds on relocation ({@link MigrationBudget}): cooldown per model,
 *     concurrent migrations per GPU, migrations per round
 * @param maxReplicas instances a model may have ({@code >= 1}; above 1 the server's {@code
 *     ReplicaScaling} adds and removes them, {@link SimReplicas})
 */
public record SimPolicy(String name, boolean elasticKv, boolean idleEviction, boolean eagerEviction, boolean relocation,
    boolean deadlineAdmission,
    boolean slackPreemption, Duration idleThreshold, double tau, double relativeTau, Duration placementInterval,
    MigrationBudget.Limits migrationLimits, int maxReplicas) {
  public SimPolicy {
    if (maxReplicas < 1) throw new IllegalArgumentException("maxReplicas must be >= 1, got " + maxReplicas);
  }

  /** A policy with one instance per model (no replicas). */
  public SimPolicy(String name, boolean elasticKv, boolean idleEviction, boolean eagerEviction, boolean relocation, boolean deadlineAdmission,
      boolean slackPreemption, Duration idleThreshold, double tau, double relativeTau, Duration placementInterval,
      MigrationBudget.Limits migrationLimits) {
    this(name, elasticKv, idleEviction, eagerEviction, relocation, deadlineAdmission, slackPreemption, idleThreshold, tau, relativeTau,
        placementInterval, migrationLimits, 1);
  }

  /** This policy named {@code newName} with up to {@code n} instances per model ({@link SimReplicas}). */
  public SimPolicy withMaxReplicas(String newName, int n) {
    return new SimPolicy(newName, elasticKv, idleEviction, eagerEviction, relocation, deadlineAdmission, slackPreemption, idleThreshold, tau,
        relativeTau, placementInterval, migrationLimits, n);
  }

  /**
   * Prism: KVPR placement + relocation, idle eviction when memory is needed, Moore-Hodgson
   * admission, elastic KV, preemption by slack.
   */
  public static final SimPolicy PRISM = new SimPolicy("Prism", true, true, false, true, true, true,
      IdleEvictionPolicy.DEFAULT_IDLE_THRESHOLD, KvprPlacement.DEFAULT_TAU, 0.5, Duration.ofSeconds(60), MigrationBudget.Limits.DEFAULT);

  /** {@link #PRISM} with relocation bounded by {@code tau} alone (the paper's Algorithm 1 as written): the churn reference. */
  public static final SimPolicy PRISM_UNBOUNDED = new SimPolicy("Prism-unbounded", true, true, false, true, true, true,
      IdleEvictionPolicy.DEFAULT_IDLE_THRESHOLD, KvprPlacement.DEFAULT_TAU, 0.5, Duration.ofSeconds(60), MigrationBudget.Limits.UNBOUNDED);

  /** {@link #PRISM} with eager idle eviction: every model idle for 45 s leaves the GPU, needed or not. */
  public static final SimPolicy PRISM_EAGER = new SimPolicy("Prism-eager", true, true, true, true, true, true,
      IdleEvictionPolicy.DEFAULT_IDLE_THRESHOLD, KvprPlacement.DEFAULT_TAU, 0.5, Duration.ofSeconds(60), MigrationBudget.Limits.DEFAULT);

  /** MuxServe++ (the paper's baseline): elastic KV, but no eviction and no relocation; FCFS. */
  public static final SimPolicy MUXSERVE_PLUS_PLUS = new SimPolicy("MuxServe++", true, false, false, false, false, false,
      IdleEvictionPolicy.DEFAULT_IDLE_THRESHOLD, KvprPlacement.DEFAULT_TAU, 0.5, Duration.ofSeconds(60), MigrationBudget.Limits.DEFAULT);

  /** Static partition: fixed placement and fixed equal KV share per model; FCFS. */
  public static final SimPolicy STATIC_PARTITION = new SimPolicy("Static", false, false, false, false, false, false,
      IdleEvictionPolicy.DEFAULT_IDLE_THRESHOLD, KvprPlacement.DEFAULT_TAU, 0.5, Duration.ofSeconds(60), MigrationBudget.Limits.DEFAULT);
}
