package io.prism.runtime.policy.sim;

import io.prism.runtime.policy.DeadlineAdmission;
import io.prism.runtime.policy.ModelOutlook;
import io.prism.runtime.policy.MooreHodgsonAdmission;
import io.prism.runtime.policy.QueuedRequest;
import io.prism.runtime.policy.ReclaimAction;
import io.prism.runtime.policy.ReclaimPlan;
import io.prism.runtime.policy.ReclaimPolicy;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The per-GPU engine loop of the {@link Simulator}: picks and runs the next step (a prefill chunk
 * of one model or a decode round over all models with running sequences), with the policy's
 * admission order and preemption rule. It models engine steps (their durations come from the
 * {@link GpuProfile} / {@link ModelProfile} cost model); it batches no real sequences. Confined to
 * the simulator's thread.
 */
final class SimulatedEngine {
  /** Requests per model queue that one admission round looks at (the earliest arrivals). */
  private static final int ADMISSION_WINDOW = 256;
  private static final long KIB = 1024;
  private static final Comparator<SimRequest> BY_ARRIVAL = Comparator.comparingLong((SimRequest r) -> r.arrival.arrivalNanos())
      .thenComparing(r -> r.arrival.requestId());

  private final Simulator sim;

  SimulatedEngine(Simulator sim) {
    this.sim = sim;
  }

  /** Starts a step on {@code g} if it is idle. */
  void kick(SimGpu g) {
    if (!g.busy) startStep(g);
  }

  private void startStep(SimGpu g) {
    g.checkInvariants();
    boolean hasDecode = g.instances.stream().anyMatch(i -> !i.running.isEmpty());
    if (!hasDecode || g.prefillTurn) {
      List<Chunk> chunks = planPrefill(g);
      if (!chunks.isEmpty()) {
        runPrefill(g, chunks);
        return;
      }
    }
    if (hasDecode) {
      runDecode(g);
    } else {
      g.busy = false;
    }
  }

  static long kvBytesFor(SimModelState m, int tokens) {
    long blocks = (tokens + Simulator.BLOCK_TOKENS - 1L) / Simulator.BLOCK_TOKENS;
    return blocks * Simulator.BLOCK_TOKENS * m.spec.profile().kvBytesPerToken();
  }

  /** KV bytes {@code inst} may still take; with the watermark (1% of its pool) kept free when asked. */
  private long available(SimInstance inst, boolean watermark) {
    SimGpu g = inst.gpu;
    long free = g.freeBytes() - (watermark ? g.budgetBytes / 100 : 0);
    if (!sim.policy.elasticKv()) free = Math.min(free, inst.quotaBytes - inst.kvBytes - (watermark ? inst.quotaBytes / 100 : 0));
    return free;
  }

  // ---- prefill ----

  /** The model's prefill speed as the server measures it at load: one full chunk's tokens over its time. */
  private double measuredPrefillTokensPerSecond(SimModelState m) {
    return Simulator.PREFILL_CHUNK_TOKENS * 1e9 / sim.gpu.prefillNanos(m.spec.profile(), Simulator.PREFILL_CHUNK_TOKENS);
  }

  /** {@code tokens} prompt tokens of {@code request} in one prefill step. */
  private record Chunk(SimRequest request, int tokens) {}

  /**
   * The next prefill step, up to {@link Simulator#PREFILL_CHUNK_TOKENS} tokens of one instance's
   * requests. FCFS: first the prompts already being prefilled (KV allocated) of the first instance
   * that has some, then new requests in arrival order. Deadline admission (Prism): preempted
   * requests first (as vLLM does), then prompts being prefilled and Moore-Hodgson's admitted set
   * merged in TTFT-deadline order, so an urgent request does not wait behind a long prompt with a
   * loose deadline.
   */
  private List<Chunk> planPrefill(SimGpu g) {
    List<SimRequest> order = new ArrayList<>();
    if (sim.policy.deadlineAdmission()) {
      List<SimRequest> admitted = admissionOrder(g);
      int resumed = 0;
      while (resumed < admitted.size() && admitted.get(resumed).resumed()) resumed++;
      order.addAll(admitted.subList(0, resumed));
      List<SimRequest> byDeadline = new ArrayList<>(admitted.subList(resumed, admitted.size()));
      for (SimInstance i : g.instances) byDeadline.addAll(i.prefilling);
      byDeadline.sort(Comparator.comparingLong((SimRequest r) -> r.deadlineNanos).thenComparing(BY_ARRIVAL));
      order.addAll(byDeadline);
    } else {
      for (SimInstance i : g.instances) {
        if (i.prefilling.isEmpty()) continue;
        order.addAll(i.prefilling);
        break;
      }
      order.addAll(admissionOrder(g));
    }
    List<Chunk> chunks = new ArrayList<>();
    int budget = Simulator.PREFILL_CHUNK_TOKENS;
    SimInstance inst = null;
    long newBytes = 0;
    for (SimRequest r : order) {
      if (budget == 0) break;
      SimInstance target = r.instance != null ? r.instance : r.model.instanceOn(g);
      if (target == null) continue;
      if (inst != null && target != inst) continue;
      if (r.instance == null) { // not admitted yet: its whole prompt's KV must fit
        if (target.groupClosed && !r.resumed()) continue; // QLM: this model's request group is over
        long need = kvBytesFor(r.model, r.prefillTokens());
        if (newBytes + need > available(target, true)) continue;
        newBytes += need;
      }
      inst = target;
      int n = Math.min(budget, r.prefillTokens() - r.prefilledTokens);
      chunks.add(new Chunk(r, n));
      budget -= n;
    }
    return chunks;
  }

  private List<SimRequest> admissionOrder(SimGpu g) {
    List<SimRequest> resumed = new ArrayList<>();
    List<SimRequest> fresh = new ArrayList<>();
    long committedNanos = 0; // remaining prompt work already admitted on this GPU
    for (SimInstance inst : g.instances) {
      double speed = measuredPrefillTokensPerSecond(inst.model);
      for (SimRequest r : inst.prefilling) committedNanos += Math.round((r.prefillTokens() - r.prefilledTokens) / speed * 1e9);
      if (!inst.serving()) continue;
      int seen = 0;
      for (SimRequest r : inst.model.queue) {
        if (seen++ >= ADMISSION_WINDOW) break;
        (r.resumed() ? resumed : fresh).add(r);
      }
    }
    resumed.sort(BY_ARRIVAL);
    List<SimRequest> order = new ArrayList<>(resumed);
    if (sim.policy.deadlineAdmission()) {
      Map<String, SimRequest> byId = new HashMap<>();
      List<DeadlineAdmission.Waiting> queue = new ArrayList<>();
      Map<String, ModelOutlook> outlooks = new HashMap<>();
      for (SimRequest r : fresh) {
        byId.put(r.arrival.requestId(), r);
        queue.add(new DeadlineAdmission.Waiting(r.arrival.requestId(), r.model.id(), r.arrival.arrivalNanos(), r.prefillTokens(),
            r.deadlineNanos - r.arrival.arrivalNanos()));
        outlooks.computeIfAbsent(r.model.id(), id -> ModelOutlook.idle(id, measuredPrefillTokensPerSecond(r.model)));
      }
      // the same admission the GPU actors run, without headroom (the simulator's times have no noise);
      // the simulator models prefill time only (no slot or activation wait)
      MooreHodgsonAdmission.Result res = DeadlineAdmission.decide(queue, outlooks, Map.of(), committedNanos, sim.now);
      for (MooreHodgsonAdmission.Drop.Rejected rej : res.rejected()) {
        SimRequest r = byId.get(rej.request().requestId());
        r.model.queue.remove(r);
        sim.reject(r);
      }
      for (QueuedRequest q : res.admitted()) order.add(byId.get(q.requestId()));
    } else {
      fresh.sort(BY_ARRIVAL);
      order.addAll(fresh);
    }
    return order;
  }

  private void runPrefill(SimGpu g, List<Chunk> chunks) {
    g.busy = true;
    g.prefillTurn = false;
    SimRequest first = chunks.get(0).request();
    SimInstance inst = first.instance != null ? first.instance : first.model.instanceOn(g);
    long tokens = 0;
    for (Chunk c : chunks) {
      SimRequest r = c.request();
      if (r.instance == null) { // newly admitted: allocate the whole prompt's KV
        inst.model.queue.remove(r);
        r.contextTokens = r.prefillTokens();
        r.kvBytes = kvBytesFor(r.model, r.contextTokens);
        inst.kvBytes += r.kvBytes;
        g.kvBytes += r.kvBytes;
        r.prefilledTokens = 0;
        r.instance = inst;
        inst.prefilling.add(r);
      }
      tokens += c.tokens();
    }
    long total = tokens;
    sim.schedule(sim.now + sim.gpu.prefillNanos(inst.model.spec.profile(), tokens), () -> {
      for (Chunk c : chunks) {
        SimRequest r = c.request();
        r.prefilledTokens += c.tokens();
        if (r.prefilledTokens < r.prefillTokens()) continue;
        inst.prefilling.remove(r);
        r.prefilledTokens = 0;
        if (!r.resumed()) {
          r.firstTokenNanos = sim.now;
          r.generated = 1;
        }
        inst.running.add(r);
        if (r.generated >= r.arrival.outputTokens()) sim.complete(r, inst);
      }
      inst.model.lastActivityNanos = sim.now;
      sim.rates.record(inst.model.id(), sim.now, total);
      g.busy = false;
      startStep(g);
    });
  }

  // ---- decode ----

  private static List<SimRequest> decodeBatch(SimInstance inst) {
    return new ArrayList<>(inst.running.subList(0, Math.min(inst.running.size(), Simulator.MAX_DECODE_BATCH)));
  }

  private void runDecode(SimGpu g) {
    g.busy = true;
    g.prefillTurn = true;
    List<SimInstance> active = new ArrayList<>(g.instances.stream().filter(i -> !i.running.isEmpty()).toList());
    // Grow one instance at a time, so each reclaim sees the memory the previous ones took.
    List<List<SimRequest>> grown = new ArrayList<>();
    for (SimInstance inst : active) {
      ensureGrowth(inst);
      List<SimRequest> batch = decodeBatch(inst);
      grown.add(batch);
      for (SimRequest r : batch) {
        r.contextTokens++;
        long kv = kvBytesFor(r.model, r.contextTokens);
        inst.kvBytes += kv - r.kvBytes;
        g.kvBytes += kv - r.kvBytes;
        r.kvBytes = kv;
      }
    }
    List<SimInstance> stepping = new ArrayList<>();
    List<List<SimRequest>> batches = new ArrayList<>();
    long duration = 0;
    for (int k = 0; k < active.size(); k++) {
      SimInstance inst = active.get(k);
      List<SimRequest> batch = new ArrayList<>();
      long context = 0;
      for (SimRequest r : grown.get(k)) {
        if (r.instance != inst) continue; // preempted by a later instance's reclaim
        batch.add(r);
        context += r.contextTokens;
      }
      if (batch.isEmpty()) continue;
      duration += sim.gpu.decodeStepNanos(inst.model.spec.profile(), context);
      stepping.add(inst);
      batches.add(batch);
    }
    if (stepping.isEmpty()) { // everything was preempted: fall back to prefill or idle
      g.busy = false;
      g.prefillTurn = true;
      startStep(g);
      return;
    }
    sim.schedule(sim.now + duration, () -> {
      for (int k = 0; k < stepping.size(); k++) {
        SimInstance inst = stepping.get(k);
        for (SimRequest r : batches.get(k)) {
          r.generated++;
          if (r.generated >= r.arrival.outputTokens()) sim.complete(r, inst);
        }
        inst.model.lastActivityNanos = sim.now;
        sim.rates.record(inst.model.id(), sim.now, batches.get(k).size());
      }
      g.busy = false;
      startStep(g);
    });
  }

  /** Makes room for one more token of every sequence in {@code inst}'s next decode batch, reclaiming if needed. */
  private void ensureGrowth(SimInstance inst) {
    while (true) {
      long need = 0;
      for (SimRequest r : decodeBatch(inst)) need += kvBytesFor(r.model, r.contextTokens + 1) - r.kvBytes;
      long free = available(inst, false);
      if (need <= free) return;
      if (sim.policy.idleEviction() && sim.policy.slackPreemption() && sim.policy.elasticKv() && reclaim(inst, need - free)) continue;
      // vLLM: preempt the model's own newest sequence.
      SimRequest newest = inst.running.stream().max(BY_ARRIVAL).orElse(null);
      if (newest == null) return;
      preempt(newest);
    }
  }

  /**
   * Issue 5's reclaim path through {@link io.prism.runtime.policy.ReclaimPolicy}, in KiB pages:
   * evict models idle past the threshold, then preempt running sequences by slack, never from a
   * stricter SLO. Returns false (doing nothing) when even that cannot free {@code deficitBytes}.
   */
  private boolean reclaim(SimInstance inst, long deficitBytes) {
    SimGpu g = inst.gpu;
    int pages = (int) ((deficitBytes + KIB - 1) / KIB);
    int freePages = (int) Math.max(0, g.freeBytes() / KIB);
    ReclaimPlan plan = sim.reclaimPolicy.plan(new ReclaimPolicy.Requester(inst.model.id(), inst.model.slo, pages + freePages, true),
        new ReclaimPolicy.PoolState(freePages, 0), sim.memories(g, KIB));
    if (!(plan instanceof ReclaimPlan.Granted granted) || granted.actions().isEmpty()) return false;
    Map<String, SimRequest> running = new HashMap<>();
    for (SimInstance i : g.instances) for (SimRequest r : i.running) running.put(r.arrival.requestId(), r);
    for (ReclaimAction a : granted.actions()) {
      if (a instanceof ReclaimAction.EvictWeights e) {
        sim.control.evict(g, e.modelId());
      } else if (a instanceof ReclaimAction.PreemptDecode p) {
        preempt(running.get(p.sequenceId()));
      } else {
        throw new IllegalStateException("unexpected reclaim step " + a);
      }
    }
    return true;
  }

  private void preempt(SimRequest r) {
    SimInstance owner = r.instance;
    if (owner == null || !owner.running.remove(r)) throw new IllegalStateException("preempting " + r.arrival.requestId() + " which is not running");
    sim.freeKv(r, owner);
    r.instance = null;
    r.model.queue.addFirst(r);
    sim.counters.preemptions++;
    sim.releaseIfDrained(owner);
    for (SimInstance i : r.model.servingInstances()) if (i.gpu != owner.gpu) kick(i.gpu);
  }
}
