package io.prism.app.bench;

import io.prism.runtime.policy.IdleEvictionPolicy;
import io.prism.runtime.policy.KvprPlacement;
import io.prism.runtime.policy.sim.SimPolicy;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A serving system that {@code prism bench replay} runs, as switches of the one Prism runtime: the
 * {@code prism.gpu.*} settings of the server it starts, whether each model's KV pages are capped at
 * an equal share of its GPU (the static partition, applied through the models' {@code max_pages}),
 * and the simulator policy that stands for it in the simulator comparison. Immutable.
 *
 * <p>What each baseline reproduces, and what it does not (the runtime has no switch for it yet):
 * <ul>
 *   <li>{@code static}: a static partition: each model gets a fixed, equal share of the KV pages its
 *       GPU has after weights ({@code max_pages}), no eviction, first come first served.
 *   <li>{@code muxserve++}: MuxServe with kvcached, the paper's strongest baseline: elastic KV shared
 *       by the models of a GPU, no eviction, no relocation, first come first served.
 *   <li>{@code serverlessllm}: ServerlessLLM-like ({@link SimPolicy#SERVERLESS_LLM}): one resident
 *       model per GPU ({@code prism.gpu.max-resident-models = 1}: the page pool refuses a second
 *       model's weights), a model idle for {@link SimPolicy#SERVERLESS_KEEP_ALIVE} (2 s) is unloaded to
 *       host memory, a request for another model cold-starts it from host memory as soon as the
 *       resident one is quiet ({@code swap-idle-after = 1ms}), first come first served, no KV sharing.
 *       Missing: its live migration of running inference and locality-aware server choice.
 *   <li>{@code qlm}: QLM-like ({@link SimPolicy#QLM}): one resident model per GPU as above; requests
 *       ordered by TTFT deadline (Moore-Hodgson admission); a waiting model's swap ends the resident
 *       model's request group ({@code prism.gpu.request-groups}: it starts no new sequence for half
 *       the waiting model's TTFT SLO) and every swap-in pays {@link SimPolicy#QLM_SWAP_OVERHEAD} of
 *       engine restart ({@code prism.gpu.swap-overhead}) beside the weight copy.
 *   <li>{@code prism}: everything on: elastic KV, eviction of models idle 45 s (on a timer and by
 *       reclaim), deadline admission, KVPR placement rounds with live migration ({@code
 *       prism.placement.*}); the baselines are placed by free memory and never move.
 *   <li>{@code prism-no-elastic}, {@code prism-no-eviction}, {@code prism-no-admission}, {@code
 *       prism-no-placement}: Prism with
 *       one mechanism off, for the ablation table.
 * </ul>
 *
 * @param name the name on the command line and in the tables
 * @param reproduces one line saying what it stands for
 * @param settings {@code prism.*} overrides of the server it runs on
 * @param staticShare true: each model's KV pages are capped at its GPU's KV pages over the number of
 *     models placed there
 * @param sim the simulator's version of it
 */
public record ReplayPolicy(String name, String reproduces, Map<String, Object> settings, boolean staticShare, SimPolicy sim) {
  public ReplayPolicy {
    settings = Map.copyOf(settings);
  }

  /** Idle time after which the serverless baselines unload a model. */
  public static final Duration SERVERLESS_KEEP_ALIVE = SimPolicy.SERVERLESS_KEEP_ALIVE;

  /** Every policy, baselines first, then Prism and its ablations. */
  public static final List<ReplayPolicy> ALL = List.of(
      of("static", "static partition: fixed equal KV share per model, no eviction, FCFS", false, null, false, true,
          SimPolicy.STATIC_PARTITION),
      of("muxserve++", "MuxServe++: elastic KV, no eviction, no relocation, FCFS", false, null, false, false,
          SimPolicy.MUXSERVE_PLUS_PLUS),
      oneResident(of("serverlessllm", "ServerlessLLM-like: one resident model per GPU, unloaded after 2 s idle, cold start from host memory, FCFS",
          true, SERVERLESS_KEEP_ALIVE, false, false, SimPolicy.SERVERLESS_LLM), false),
      oneResident(of("qlm", "QLM-like: one resident model per GPU, deadline-ordered request groups, a swap ends a group and restarts the engine",
          true, SERVERLESS_KEEP_ALIVE, true, false, SimPolicy.QLM), true),
      of("prism", "Prism: elastic KV, idle eviction (45 s), deadline admission", true, null, true, false,
          sim("Prism", true, true, true, true, true, IdleEvictionPolicy.DEFAULT_IDLE_THRESHOLD)),
      of("prism-no-placement", "Prism without KVPR placement rounds and live migration (placed by free memory)", true, null, true, false,
          sim("Prism-no-placement", true, true, true, false, true, IdleEvictionPolicy.DEFAULT_IDLE_THRESHOLD)),
      of("prism-no-elastic", "Prism without elastic KV (equal static KV share)", true, null, true, true,
          sim("Prism-no-elastic", false, true, true, false, true, IdleEvictionPolicy.DEFAULT_IDLE_THRESHOLD)),
      of("prism-no-eviction", "Prism without idle eviction", false, null, true, false,
          sim("Prism-no-eviction", true, false, false, false, true, IdleEvictionPolicy.DEFAULT_IDLE_THRESHOLD)),
      of("prism-no-admission", "Prism without deadline admission (FCFS)", true, null, false, false,
          sim("Prism-no-admission", true, true, true, false, false, IdleEvictionPolicy.DEFAULT_IDLE_THRESHOLD)));

  /** The policies of the default run: the four baselines and Prism. */
  public static final List<String> DEFAULT_NAMES = List.of("static", "muxserve++", "serverlessllm", "qlm", "prism");

  /**
   * The policy called {@code name} (case-insensitive).
   *
   * @throws IllegalArgumentException naming the unknown policy and listing the known ones
   */
  public static ReplayPolicy named(String name) {
    for (ReplayPolicy p : ALL) if (p.name.equalsIgnoreCase(name.strip())) return p;
    throw new IllegalArgumentException("unknown policy '" + name + "'; known: " + String.join(", ", ALL.stream().map(ReplayPolicy::name).toList()));
  }

  /** A policy for a server someone else started ({@code --url}): its settings are whatever it runs with. */
  public static ReplayPolicy external() {
    return new ReplayPolicy("server", "the running server, as configured", Map.of(), false, SimPolicy.PRISM);
  }

  private static ReplayPolicy of(String name, String reproduces, boolean evict, Duration idleEviction, boolean admission, boolean staticShare,
      SimPolicy sim) {
    Map<String, Object> s = new LinkedHashMap<>();
    s.put("prism.gpu.evict-idle-models", evict ? "on" : "off");
    if (idleEviction != null) s.put("prism.gpu.idle-eviction", idleEviction.toMillis() + "ms");
    s.put("prism.gpu.deadline-admission", admission ? "on" : "off");
    // KVPR placement rounds and live migration: Prism and its ablations except prism-no-placement
    boolean placement = name.startsWith("prism") && !name.equals("prism-no-placement");
    s.put("prism.placement.policy", placement ? "kvpr" : "most-free");
    return new ReplayPolicy(name, reproduces, s, staticShare, sim);
  }

  /** {@code p} with one resident model per GPU, swaps as soon as the resident is quiet; QLM also with request groups and the restart cost. */
  private static ReplayPolicy oneResident(ReplayPolicy p, boolean qlm) {
    Map<String, Object> s = new LinkedHashMap<>(p.settings());
    s.put("prism.gpu.max-resident-models", 1);
    s.put("prism.gpu.swap-idle-after", "1ms");
    s.put("prism.gpu.swap-overhead", (qlm ? SimPolicy.QLM_SWAP_OVERHEAD.toMillis() : 0) + "ms");
    s.put("prism.gpu.request-groups", qlm ? "on" : "off");
    return new ReplayPolicy(p.name(), p.reproduces(), s, p.staticShare(), p.sim());
  }

  private static SimPolicy sim(String name, boolean elasticKv, boolean idleEviction, boolean eager, boolean relocation, boolean admission,
      Duration idle) {
    // Prism and its ablations keep the TPOT co-location guard on relocation and activation (TpotColocation)
    return new SimPolicy(name, elasticKv, idleEviction, eager, relocation, admission, admission, idle, KvprPlacement.DEFAULT_TAU, 0.5,
        Duration.ofSeconds(60), io.prism.runtime.policy.MigrationBudget.Limits.DEFAULT, 1, true, 0, Duration.ZERO, false);
  }
}
