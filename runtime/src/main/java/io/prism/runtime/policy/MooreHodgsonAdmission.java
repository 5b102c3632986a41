package io.prism.runtime.policy;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.PriorityQueue;
import java.util.Set;

/**
 * Deadline-aware admission across the models of one GPU, the paper's Algorithm 2: the Moore-Hodgson
 * algorithm for the most on-time jobs on one machine (Moore, Management Science 15(1), 1968).
 *
 * <p>The GPU's prefill work is modelled as one machine; each request is a job whose length is its
 * {@link QueuedRequest#estimatedPrefillNanos()} and whose due date is its TTFT deadline. The machine
 * is free at {@code start = now + committedWorkNanos} (work already dispatched). A request's due
 * date is its TTFT deadline less its {@link QueuedRequest#startDelayNanos()} (time it must wait
 * whatever the queue: a running slot, an activation). Walk the requests
 * in deadline order (ties: arrival, then request id), adding each to the admitted set and its length
 * to the finish time; whenever the newest request's finish time exceeds its deadline, remove the
 * admitted request with the largest estimated prefill time (ties: the latest in deadline order).
 * The admitted set is then a maximum-size set of requests that all meet their deadlines when run in
 * deadline order. {@code O(n log n)}.
 *
 * <p><b>What happens to a dropped request</b> (the paper leaves it open; this is our decision):
 * <ul>
 *   <li>{@link Drop.Rejected} when it would miss its deadline even if it were served next, alone:
 *       {@code start + estimatedPrefill > deadline}. Nothing can save it; the server answers 503
 *       with {@link Drop.Rejected#reason()} (and {@code x-should-retry: false}) instead of serving
 *       it late and stealing time from requests that can still make it.
 *   <li>{@link Drop.Deferred} otherwise: it could make its deadline, but not together with the
 *       admitted set. It stays queued and is re-evaluated next round (the next call), where it may be
 *       admitted (earlier work finished faster than estimated, or a request was cancelled) or, once
 *       its deadline can no longer be met, rejected.
 * </ul>
 * Requests with {@link QueuedRequest#NO_DEADLINE} are never late and so never dropped.
 *
 * <p>Pure and thread-safe: all state is in the arguments.
 */
public final class MooreHodgsonAdmission {
  /** Deadline order: due date ({@link QueuedRequest#dueNanos()}), then arrival, then request id. */
  public static final Comparator<QueuedRequest> DEADLINE_ORDER = Comparator.comparingLong(QueuedRequest::dueNanos)
      .thenComparingLong(QueuedRequest::arrivalNanos).thenComparing(QueuedRequest::requestId);

  /** Why a request was not admitted; see the class comment. */
  public sealed interface Drop {
    /** The dropped request. */
    QueuedRequest request();

    /** Still able to meet its deadline alone: keep it queued and re-evaluate it next round. */
    record Deferred(QueuedRequest request) implements Drop {}

    /**
     * Cannot meet its deadline even if served next: answer 503 with {@code reason}.
     *
     * @param estimatedTtftNanos the estimated time from its arrival to its first token if served next
     */
    record Rejected(QueuedRequest request, String reason, long estimatedTtftNanos) implements Drop {}
  }

  /**
   * Outcome of one admission round.
   *
   * @param admitted requests to prefill now, in deadline order; together they meet all deadlines
   *     by the estimates
   * @param dropped the others, in deadline order, each {@link Drop.Deferred} or {@link Drop.Rejected}
   */
  public record Result(List<QueuedRequest> admitted, List<Drop> dropped) {
    public Result {
      admitted = List.copyOf(admitted);
      dropped = List.copyOf(dropped);
    }

    /** Dropped requests that stay queued for the next round, in deadline order. */
    public List<QueuedRequest> deferred() {
      return dropped.stream().filter(d -> d instanceof Drop.Deferred).map(Drop::request).toList();
    }

    /** Dropped requests to answer with 503, in deadline order. */
    public List<Drop.Rejected> rejected() {
      return dropped.stream().filter(d -> d instanceof Drop.Rejected).map(d -> (Drop.Rejected) d).toList();
    }
  }

  private MooreHodgsonAdmission() {}

  /**
   * Runs one admission round over a GPU's queue.
   *
   * @param queue waiting requests of every model on the GPU, any order, unique ids
   * @param nowNanos current time on the same clock as the requests' times
   * @param committedWorkNanos estimated prefill time of work already dispatched and not yet done, {@code >= 0}
   * @throws IllegalArgumentException on a negative committed work or a duplicate request id
   */
  public static Result admit(List<QueuedRequest> queue, long nowNanos, long committedWorkNanos) {
    if (committedWorkNanos < 0) throw new IllegalArgumentException("committedWorkNanos must be >= 0, got " + committedWorkNanos);
    List<QueuedRequest> order = new ArrayList<>(queue);
    order.sort(DEADLINE_ORDER);
    checkUnique(order);
    long start = nowNanos + committedWorkNanos;
    // Max-heap on estimated prefill; among equals, the latest in deadline order (highest index) first.
    int n = order.size();
    long[] cost = new long[n];
    for (int i = 0; i < n; i++) cost[i] = order.get(i).estimatedPrefillNanos();
    PriorityQueue<Integer> admittedHeap = new PriorityQueue<>(
        Comparator.<Integer>comparingLong(i -> cost[i]).reversed().thenComparing(Comparator.<Integer>reverseOrder()));
    boolean[] admitted = new boolean[n];
    long finish = start;
    for (int i = 0; i < n; i++) {
      admittedHeap.add(i);
      admitted[i] = true;
      finish += cost[i];
      if (finish > order.get(i).dueNanos()) {
        int victim = admittedHeap.poll();
        admitted[victim] = false;
        finish -= cost[victim];
      }
    }
    List<QueuedRequest> in = new ArrayList<>();
    List<Drop> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      QueuedRequest r = order.get(i);
      if (admitted[i]) {
        in.add(r);
      } else if (start + cost[i] > r.dueNanos()) {
        long estimate = start + cost[i] + r.startDelayNanos() - r.arrivalNanos();
        out.add(new Drop.Rejected(r, String.format(Locale.ROOT,
            "cannot meet TTFT deadline: estimated TTFT %.1f ms (prefill %.3f ms after %.3f ms of queued work, %.3f ms waiting for a slot,"
                + " activation or memory) is %.3f ms past the deadline",
            estimate / 1e6, cost[i] / 1e6, (start - nowNanos) / 1e6, r.startDelayNanos() / 1e6, (start + cost[i] - r.dueNanos()) / 1e6),
            estimate));
      } else {
        out.add(new Drop.Deferred(r));
      }
    }
    return new Result(in, out);
  }

  private static void checkUnique(List<QueuedRequest> requests) {
    Set<String> ids = new HashSet<>();
    for (QueuedRequest r : requests) {
      if (!ids.add(r.requestId())) throw new IllegalArgumentException("duplicate request id " + r.requestId());
    }
  }
}
