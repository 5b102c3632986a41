package io.prism.actors.gpu;

import io.prism.actors.GpuId;
import io.prism.actors.pool.ReclaimResult;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.slf4j.Logger;

/**
 * A GPU actor's record of its decisions: the bounded recent-events list ({@code
 * prism.gpu.event-log-size}; every event is also logged) and per-model counters of time sharing and
 * reclaim, combined with {@link io.prism.runtime.policy.DeadlineAdmission}'s counters into {@link ModelBooks} for {@link
 * GpuStatus}. Plain state owned by the {@link GpuActor}.
 */
final class GpuBooks {
  /** Counters of one model. */
  private static final class Counters {
    long activations, activationNanos, lastActivationNanos, evictions, pagesReclaimed, preempted;
  }

  private final GpuId gpu;
  private final Logger log;
  private final int capacity;
  private final ArrayDeque<GpuEvent> events = new ArrayDeque<>();
  private final Map<String, Counters> counters = new TreeMap<>();
  private final Map<String, String> lastRefusal = new HashMap<>();

  GpuBooks(GpuId gpu, Logger log, int capacity) {
    this.gpu = gpu;
    this.log = log;
    this.capacity = capacity;
  }

  /**
   * Records and logs an event: at DEBUG for the frequent ones (empty pages and cached blocks
   * taken, a short step, a refusal, an admission rejection), at INFO for the rest (preemptions,
   * evictions, activations, restarts).
   */
  void event(String kind, String modelId, String detail) {
    if (events.size() == capacity) events.pollFirst();
    events.addLast(new GpuEvent(System.currentTimeMillis(), kind, modelId, detail));
    if (kind.equals(GpuEvent.RECLAIMED) || kind.equals(GpuEvent.RECLAIM_SHORT) || kind.equals(GpuEvent.RECLAIM_REFUSED)
        || kind.equals(GpuEvent.REJECTED)) { // admission rejections come in floods under overload; counted in /metrics
      log.debug("GPU {} {} {}: {}", gpu, kind, modelId, detail);
    } else {
      log.info("GPU {} {} {}: {}", gpu, kind, modelId, detail);
    }
  }

  /**
   * Records a refused reclaim, once per model and purpose until the model is granted pages again (a
   * model that stays short asks every {@code prism.gpu.reclaim-retry}; the log keeps the changes).
   *
   * @param purpose what the pages were for, e.g. "admitting its waiting requests"
   */
  void refused(String modelId, String purpose, String reason) {
    if (purpose.equals(lastRefusal.put(modelId, purpose))) return;
    event(GpuEvent.RECLAIM_REFUSED, modelId, "for " + purpose + ": " + reason);
  }

  /** The model got pages: its next refusal is news again. */
  void granted(String modelId) {
    lastRefusal.remove(modelId);
  }

  /** Records what one step of a reclaim plan or an idle eviction did. */
  void step(ReclaimResult r, String forModel) {
    switch (r.action()) {
      case "TakeReserve" -> {
        if (r.pagesFreed() > 0) event(GpuEvent.RECLAIMED, "", r.detail());
      }
      case "EvictWeights" -> {
        if (r.pagesFreed() > 0) {
          c(r.modelId()).evictions++;
          c(r.modelId()).pagesReclaimed += r.pagesFreed();
          event(GpuEvent.EVICTED, r.modelId(), r.detail());
        } else {
          event(GpuEvent.RECLAIM_SHORT, r.modelId(), r.detail());
        }
      }
      case "PreemptDecode" -> {
        c(r.modelId()).pagesReclaimed += r.pagesFreed();
        if (r.pagesFreed() > 0 || r.detail().startsWith("preempted")) {
          c(r.modelId()).preempted++;
          event(GpuEvent.PREEMPTED, r.modelId(), r.detail());
        } else {
          event(GpuEvent.RECLAIM_SHORT, r.modelId(), r.detail());
        }
      }
      default -> {
        c(r.modelId()).pagesReclaimed += r.pagesFreed();
        event(r.pagesFreed() >= r.pagesPlanned() ? GpuEvent.RECLAIMED : GpuEvent.RECLAIM_SHORT, r.modelId(),
            r.detail() + (r.pagesFreed() >= r.pagesPlanned() ? "" : " (planned " + r.pagesPlanned() + " pages)"));
      }
    }
  }

  /** Records an activation of {@code modelId} that took {@code nanos}. */
  void activated(String modelId, long nanos) {
    Counters c = c(modelId);
    c.activations++;
    c.activationNanos += nanos;
    c.lastActivationNanos = nanos;
    event(GpuEvent.ACTIVATED, modelId, String.format(java.util.Locale.ROOT, "weights of %s back on the device in %.3f ms (reclaim included)",
        modelId, nanos / 1e6));
  }

  /** Forgets a model's counters (it left the GPU). */
  void forget(String modelId) {
    counters.remove(modelId);
    lastRefusal.remove(modelId);
  }

  /** The recent events, oldest first. */
  List<GpuEvent> events() {
    return List.copyOf(events);
  }

  /**
   * Every model's books: these counters plus admission's; {@code waitingForLoad} requests that wait
   * for the instance to be ready count as queued too.
   */
  ModelBooks books(String modelId, io.prism.runtime.policy.DeadlineAdmission admission, int waitingForLoad) {
    Counters c = counters.getOrDefault(modelId, new Counters());
    io.prism.runtime.policy.DeadlineAdmission.Counts a = admission.counts(modelId);
    return new ModelBooks(admission.queued(modelId) + waitingForLoad, a.admitted, a.rejected, a.deferred, c.activations, c.activationNanos, c.lastActivationNanos,
        c.evictions, c.pagesReclaimed, c.preempted);
  }

  private Counters c(String modelId) {
    return counters.computeIfAbsent(modelId, k -> new Counters());
  }
}
