package io.prism.actors;

import io.prism.runtime.policy.MooreHodgsonAdmission;
import io.prism.runtime.policy.QueuedRequest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The local admission of one GPU (the paper's Algorithm 2): one queue across the GPU's models in
 * TTFT-deadline order, and each round {@link MooreHodgsonAdmission} chooses which queued requests
 * enter their engines. The job length of a request is its prompt tokens over its model's prefill
 * speed (measured at load); the GPU is busy for the estimated prefill of the requests admitted whose
 * first token has not come yet ({@link #committedNanos()}).
 *
 * <p>Dropped requests (our decision; the paper leaves it open, see {@link MooreHodgsonAdmission}):
 * one that could meet its deadline if served next, but not together with the admitted ones, is
 * <em>deferred</em>: it stays queued for the next round (rounds run whenever a request arrives, a
 * first token comes or a request ends). One that cannot meet its deadline even if served next is
 * <em>rejected</em>: the client gets 503 with the reason and {@code x-should-retry: false} rather than
 * a late answer that also delays the requests that can still make it. With deadline admission off
 * every request is admitted at once.
 *
 * <p>Plain state owned by the {@link GpuActor}; its clock is the device clock.
 */
final class LocalAdmission {
  /**
   * One round's outcome.
   *
   * @param admitted request ids per model, in deadline order
   * @param rejected request id to reason, in deadline order
   */
  record Round(Map<String, List<String>> admitted, Map<String, Rejection> rejected) {}

  /** A rejected request and why. */
  record Rejection(String modelId, String reason) {}

  /** What admission counts per model. */
  static final class Counts {
    long admitted, rejected, deferred;
  }

  private final boolean enabled;
  private final Map<String, QueuedRequest> queue = new LinkedHashMap<>();
  private final Map<String, QueuedRequest> committed = new HashMap<>(); // admitted, no first token yet
  private final Set<String> deferredOnce = new HashSet<>();
  private final Map<String, Counts> counts = new TreeMap<>();

  /** @param enabled Moore-Hodgson admission on ({@code prism.gpu.deadline-admission}); off admits everything */
  LocalAdmission(boolean enabled) {
    this.enabled = enabled;
  }

  /**
   * Queues a request of {@code modelId}.
   *
   * @param ttftSlo the model's TTFT SLO (the deadline is {@code arrival + ttftSlo})
   * @param prefillTokensPerSecond the model's measured prefill speed
   */
  void enqueue(String modelId, String requestId, long arrivalNanos, int promptTokens, Duration ttftSlo, double prefillTokensPerSecond) {
    long ttft = ttftSlo.toNanos();
    long deadline = arrivalNanos > Long.MAX_VALUE - ttft ? QueuedRequest.NO_DEADLINE : arrivalNanos + ttft;
    double speed = prefillTokensPerSecond > 0 && Double.isFinite(prefillTokensPerSecond) ? prefillTokensPerSecond : 1e4;
    queue.put(requestId, new QueuedRequest(requestId, modelId, arrivalNanos, deadline, Math.max(1, promptTokens), speed));
    counts.computeIfAbsent(modelId, k -> new Counts());
  }

  /** Requests that emitted their first token: their prefill is no longer pending work. */
  void firstTokens(List<String> requestIds) {
    for (String id : requestIds) committed.remove(id);
  }

  /** Requests that ended (finished, cancelled, failed, rejected by the engine, requester gone). */
  void ended(List<String> requestIds) {
    for (String id : requestIds) {
      committed.remove(id);
      queue.remove(id);
      deferredOnce.remove(id);
    }
  }

  /** Forgets every request of {@code modelId} (its actor restarted or stopped and ended them itself). */
  void forgetModel(String modelId) {
    List<String> ids = new ArrayList<>();
    for (QueuedRequest q : queue.values()) if (q.modelId().equals(modelId)) ids.add(q.requestId());
    for (QueuedRequest q : committed.values()) if (q.modelId().equals(modelId)) ids.add(q.requestId());
    ended(ids);
  }

  /** Estimated prefill time of admitted requests without a first token yet. */
  long committedNanos() {
    long sum = 0;
    for (QueuedRequest q : committed.values()) sum += q.estimatedPrefillNanos();
    return sum;
  }

  /** Requests queued, all models. */
  int queued() {
    return queue.size();
  }

  /** Requests of {@code modelId} queued. */
  int queued(String modelId) {
    int n = 0;
    for (QueuedRequest q : queue.values()) if (q.modelId().equals(modelId)) n++;
    return n;
  }

  /** The counters of {@code modelId} (zeros if none). */
  Counts counts(String modelId) {
    return counts.getOrDefault(modelId, new Counts());
  }

  /** One admission round at {@code nowNanos}; admitted requests leave the queue, rejected ones too. */
  Round round(long nowNanos) {
    Map<String, List<String>> admitted = new LinkedHashMap<>();
    Map<String, Rejection> rejected = new LinkedHashMap<>();
    if (queue.isEmpty()) return new Round(admitted, rejected);
    List<QueuedRequest> in;
    if (enabled) {
      MooreHodgsonAdmission.Result r = MooreHodgsonAdmission.admit(List.copyOf(queue.values()), nowNanos, committedNanos());
      in = r.admitted();
      for (MooreHodgsonAdmission.Drop.Rejected d : r.rejected()) {
        QueuedRequest q = d.request();
        queue.remove(q.requestId());
        deferredOnce.remove(q.requestId());
        counts.get(q.modelId()).rejected++;
        rejected.put(q.requestId(), new Rejection(q.modelId(), d.reason()));
      }
      for (QueuedRequest q : r.deferred()) {
        if (deferredOnce.add(q.requestId())) counts.get(q.modelId()).deferred++;
      }
    } else {
      in = new ArrayList<>(queue.values());
      in.sort(MooreHodgsonAdmission.DEADLINE_ORDER);
    }
    for (QueuedRequest q : in) {
      queue.remove(q.requestId());
      deferredOnce.remove(q.requestId());
      committed.put(q.requestId(), q);
      counts.get(q.modelId()).admitted++;
      admitted.computeIfAbsent(q.modelId(), k -> new ArrayList<>()).add(q.requestId());
    }
    return new Round(admitted, rejected);
  }
}
