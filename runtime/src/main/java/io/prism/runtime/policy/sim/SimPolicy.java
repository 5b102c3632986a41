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
 * @param tpotGuard true: relocation and activation put a model only where every model of the GPU
 *     keeps its TPOT SLO beside the others ({@link io.prism.runtime.policy.TpotColocation}; an
 *     activation that fits nowhere goes where KVPR says); false: KVPR alone decides
 * @param maxResidentModels most models whose weights a GPU holds at once (0: no limit). 1 is the
 *     one-model-per-GPU serving of ServerlessLLM and QLM: a model is activated on a GPU only after
 *     the resident one, quiet (nothing queued or running), is evicted
 *     ({@link io.prism.runtime.policy.ReclaimPolicy} with a residency limit)
 * @param swapOverhead added to every activation after the start: the engine restart of a model swap
 *     (QLM swaps models by restarting the serving engine); zero for a pre-initialised engine
 * @param requestGroups true (QLM): while another model waits to be swapped in on its GPU, the
 *     resident model admits no new prefill (its current request group ends when its admitted
 *     requests finish) if the waiting model's oldest request has the earlier TTFT deadline
 *     (earliest-deadline-first over request groups); false: the resident model keeps admitting
 */
public record SimPolicy(String name, boolean elasticKv, boolean idleEviction, boolean eagerEviction, boolean relocation,
    boolean deadlineAdmission,
    boolean slackPreemption, Duration idleThreshold, double tau, double relativeTau, Duration placementInterval,
    MigrationBudget.Limits migrationLimits, int maxReplicas, boolean tpotGuard, int maxResidentModels, Duration swapOverhead,
    boolean requestGroups) {
  public SimPolicy {
    if (maxReplicas < 1) throw new IllegalArgumentException("maxReplicas must be >= 1, got " + maxReplicas);
    if (maxResidentModels < 0) throw new IllegalArgumentException("maxResidentModels must be >= 0, got " + maxResidentModels);
    if (swapOverhead == null || swapOverhead.isNegative()) throw new IllegalArgumentException("swapOverhead must be >= 0, got " + swapOverhead);
    if (maxResidentModels > 0 && relocation) throw new IllegalArgumentException(name + ": a residency limit and relocation do not go together");
  }

  /**
   * A policy with one instance per model and without the TPOT guard, residency limit, swap overhead
   * or request groups (the switches before issue 11's baselines).
   */
  public SimPolicy(String name, boolean elasticKv, boolean idleEviction, boolean eagerEviction, boolean relocation, boolean deadlineAdmission,
      boolean slackPreemption, Duration idleThreshold, double tau, double relativeTau, Duration placementInterval,
      MigrationBudget.Limits migrationLimits) {
    this(name, elasticKv, idleEviction, eagerEviction, relocation, deadlineAdmission, slackPreemption, idleThreshold, tau, relativeTau,
        placementInterval, migrationLimits, 1, false, 0, Duration.ZERO, false);
  }

  /** This policy named {@code newName} with up to {@code n} instances per model ({@link SimReplicas}). */
  public SimPolicy withMaxReplicas(String newName, int n) {
    return new SimPolicy(newName, elasticKv, idleEviction, eagerEviction, relocation, deadlineAdmission, slackPreemption, idleThreshold, tau,
        relativeTau, placementInterval, migrationLimits, n, tpotGuard, maxResidentModels, swapOverhead, requestGroups);
  }

  /** This policy with the TPOT co-location guard on or off. */
  public SimPolicy withTpotGuard(boolean on) {
    return new SimPolicy(name, elasticKv, idleEviction, eagerEviction, relocation, deadlineAdmission, slackPreemption, idleThreshold, tau,
        relativeTau, placementInterval, migrationLimits, maxReplicas, on, maxResidentModels, swapOverhead, requestGroups);
  }

  /** This policy under another name. */
  public SimPolicy named(String newName) {
    return new SimPolicy(newName, elasticKv, idleEviction, eagerEviction, relocation, deadlineAdmission, slackPreemption, idleThreshold, tau,
        relativeTau, placementInterval, migrationLimits, maxReplicas, tpotGuard, maxResidentModels, swapOverhead, requestGroups);
  }

  /**
   * Prism: KVPR placement + relocation, idle eviction when memory is needed, Moore-Hodgson
   * admission, elastic KV, preemption by slack.
   */
  public static final SimPolicy PRISM = new SimPolicy("Prism", true, true, false, true, true, true,
      IdleEvictionPolicy.DEFAULT_IDLE_THRESHOLD, KvprPlacement.DEFAULT_TAU, 0.5, Duration.ofSeconds(60), MigrationBudget.Limits.DEFAULT, 1, true, 0,
      Duration.ZERO, false);

  /** {@link #PRISM} with relocation bounded by {@code tau} alone (the paper's Algorithm 1 as written): the churn reference. */
  public static final SimPolicy PRISM_UNBOUNDED = new SimPolicy("Prism-unbounded", true, true, false, true, true, true,
      IdleEvictionPolicy.DEFAULT_IDLE_THRESHOLD, KvprPlacement.DEFAULT_TAU, 0.5, Duration.ofSeconds(60), MigrationBudget.Limits.UNBOUNDED, 1, true, 0,
      Duration.ZERO, false);

  /** {@link #PRISM} with eager idle eviction: every model idle for 45 s leaves the GPU, needed or not. */
  public static final SimPolicy PRISM_EAGER = new SimPolicy("Prism-eager", true, true, true, true, true, true,
      IdleEvictionPolicy.DEFAULT_IDLE_THRESHOLD, KvprPlacement.DEFAULT_TAU, 0.5, Duration.ofSeconds(60), MigrationBudget.Limits.DEFAULT, 1, true, 0,
      Duration.ZERO, false);

  /** MuxServe++ (the paper's baseline): elastic KV, but no eviction and no relocation; FCFS. */
  public static final SimPolicy MUXSERVE_PLUS_PLUS = new SimPolicy("MuxServe++", true, false, false, false, false, false,
      IdleEvictionPolicy.DEFAULT_IDLE_THRESHOLD, KvprPlacement.DEFAULT_TAU, 0.5, Duration.ofSeconds(60), MigrationBudget.Limits.DEFAULT);

  /** Keep-alive of the one-model-per-GPU baselines: a model idle this long is unloaded. */
  public static final Duration SERVERLESS_KEEP_ALIVE = Duration.ofSeconds(2);

  /**
   * Engine restart cost of a QLM model swap, added to the weight copy. An assumption (QLM restarts
   * the serving engine to swap models; its paper gives no figure we reuse): 2 s.
   */
  public static final Duration QLM_SWAP_OVERHEAD = Duration.ofSeconds(2);

  /**
   * ServerlessLLM-like (Fu et al., "ServerlessLLM: Low-Latency Serverless Inference for Large
   * Language Models", OSDI 2024): one resident model per GPU, unloaded after {@link
   * #SERVERLESS_KEEP_ALIVE} idle, cold start from host memory on demand (a waiting model takes the
   * GPU once the resident one is quiet for the keep-alive), no KV sharing, FCFS. Not modelled: its
   * live migration of running inference and locality-aware server choice.
   */
  public static final SimPolicy SERVERLESS_LLM = new SimPolicy("ServerlessLLM", false, true, true, false, false, false, SERVERLESS_KEEP_ALIVE,
      KvprPlacement.DEFAULT_TAU, 0.5, Duration.ofSeconds(60), MigrationBudget.Limits.DEFAULT, 1, false, 1, Duration.ZERO, false);

  /**
   * QLM-like (Patke et al., "Queue Management for SLO-Oriented Large Language Model Serving", SoCC
   * 2024): one resident model per GPU; requests wait in per-model request groups ordered by TTFT
   * deadline (Moore-Hodgson here); a model swap happens between request groups (the resident model's
   * group closes when a waiting model's group has the earlier deadline, {@link #requestGroups}) and
   * pays the weight copy plus {@link #QLM_SWAP_OVERHEAD} of engine restart; no KV sharing.
   */
  public static final SimPolicy QLM = new SimPolicy("QLM", false, true, true, false, true, true, SERVERLESS_KEEP_ALIVE,
      KvprPlacement.DEFAULT_TAU, 0.5, Duration.ofSeconds(60), MigrationBudget.Limits.DEFAULT, 1, false, 1, QLM_SWAP_OVERHEAD, true);

  /** Static partition: fixed placement and fixed equal KV share per model; FCFS. */
  public static final SimPolicy STATIC_PARTITION = new SimPolicy("Static", false, false, false, false, false, false,
      IdleEvictionPolicy.DEFAULT_IDLE_THRESHOLD, KvprPlacement.DEFAULT_TAU, 0.5, Duration.ofSeconds(60), MigrationBudget.Limits.DEFAULT);
}
