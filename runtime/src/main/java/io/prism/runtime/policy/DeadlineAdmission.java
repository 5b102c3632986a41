package io.prism.runtime.policy;

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
 * enter their engines. The same class runs in the GPU actor and in the simulator.
 *
 * <p><b>Cost of a request</b> (what the paper's "prompt tokens over prefill speed" leaves out, and
 * what made admitted requests miss their deadlines): its job length on the GPU's one prefill
 * machine is its prompt over its model's prefill speed plus the decode work of the model's running
 * batch, and of the other models that decode on the device (they take turns on its one engine
 * thread), in each step that carries one of its chunks ({@link ModelOutlook#overheadNanos}); the
 * machine is busy with the prefill of the requests admitted before it that have no first token yet
 * ({@link #committedNanos()}); and it cannot start before a running slot of its model is free and its
 * model's weights are back ({@link ModelOutlook#startDelayNanos}), which moves its due date earlier.
 * Memory it may wait for is not estimated: reclaim makes room within a step or two, and the
 * at-risk rule ({@link MemoryAsk}) lets a stricter model's prefill preempt looser decodes.
 *
 * <p><b>Dropped requests</b> (our decision; the paper leaves it open, see {@link
 * MooreHodgsonAdmission}): one that could meet its deadline if served next, but not together with
 * the admitted ones, is <em>deferred</em>: it stays queued for the next round (rounds run whenever
 * a request arrives, a first token comes or a request ends). One that cannot meet its deadline even
 * if served next is <em>rejected</em>: the client gets 503 with the estimate rather than a late
 * answer that also delays the requests that can still make it. Disabled, every request is admitted
 * at once.
 *
 * <p>Plain state, not thread-safe: owned by one GPU actor (or one simulator); its clock is the
 * device clock, in nanoseconds.
 */
public final class DeadlineAdmission {
  /**
   * One round's outcome.
   *
   * @param admitted request ids per model, in deadline order
   * @param rejected request id to rejection, in deadline order
   */
  public record Round(Map<String, List<String>> admitted, Map<String, Rejected> rejected) {}

  /**
   * A rejected request.
   *
   * @param modelId its model
   * @param reason the estimate, for the client
   * @param estimatedTtftNanos estimated time from arrival to first token if served next
   * @param ttftSloNanos the model's TTFT SLO
   */
  public record Rejected(String modelId, String reason, long estimatedTtftNanos, long ttftSloNanos) {}

  /** What admission counts per model. */
  public static final class Counts {
    /** Requests admitted to their engine. */
    public long admitted;
    /** Requests rejected (503). */
    public long rejected;
    /** Requests deferred at least once. */
    public long deferred;
  }

  private record Entry(String requestId, String modelId, long arrivalNanos, long deadlineNanos, int promptTokens, long sloNanos) {}

  private final boolean enabled;
  private final Map<String, Entry> queue = new LinkedHashMap<>();
  private final Map<String, QueuedRequest> committed = new HashMap<>(); // admitted, no first token yet
  private final Map<String, Double> committedSlowdown = new HashMap<>(); // the slowdown their costs were made with
  private final Set<String> deferredOnce = new HashSet<>();
  private final Map<String, Counts> counts = new TreeMap<>();
  private final Map<String, ModelOutlook> outlooks = new HashMap<>();
  private final Map<String, Long> predictedFirstToken = new HashMap<>(); // admitted -> predicted first-token time
  private double slowdown = 1.0;
  private long slowdownAtNanos = Long.MIN_VALUE;

  /** Deadline admission with {@link #DEFAULT_HEADROOM}. */
  public DeadlineAdmission(boolean enabled) {
    this(enabled, DEFAULT_HEADROOM);
  }

  /**
   * @param enabled Moore-Hodgson admission on ({@code prism.gpu.deadline-admission}); off admits everything
   * @param headroom fraction of each TTFT SLO kept in reserve: admission plans for the first token
   *     by {@code arrival + (1 - headroom) * SLO}, so that the noise its estimates cannot see (a
   *     busy host, a garbage collection) does not break a promise; in {@code [0, 0.5]}
   * @throws IllegalArgumentException if {@code headroom} is out of range
   */
  public DeadlineAdmission(boolean enabled, double headroom) {
    if (!(headroom >= 0 && headroom <= 0.5)) throw new IllegalArgumentException("headroom must be in [0, 0.5], got " + headroom);
    this.enabled = enabled;
    this.headroom = headroom;
  }

  /** Default headroom: 10% of the TTFT SLO (it covers the HTTP path before the GPU sees a request, and after its first token). */
  public static final double DEFAULT_HEADROOM = 0.10;

  private final double headroom;

  private long planned(long sloNanos) {
    return plannedSloNanos(sloNanos, headroom);
  }

  /** The TTFT SLO admission plans against: {@code sloNanos * (1 - headroom)} (what the simulator feeds {@link #decide} too). */
  public static long plannedSloNanos(long sloNanos, double headroom) {
    return sloNanos == Long.MAX_VALUE ? sloNanos : (long) (sloNanos * (1 - headroom));
  }

  /** Whether deadline admission is on. */
  public boolean enabled() {
    return enabled;
  }

  /**
   * Queues a request of {@code modelId}.
   *
   * @param ttftSlo the model's TTFT SLO (the deadline is {@code arrival + ttftSlo})
   * @throws IllegalArgumentException if the id is already queued or admitted
   */
  public void enqueue(String modelId, String requestId, long arrivalNanos, int promptTokens, Duration ttftSlo) {
    if (queue.containsKey(requestId) || committed.containsKey(requestId)) throw new IllegalArgumentException("request id " + requestId + " is already queued");
    long ttft = ttftSlo.toNanos();
    long deadline = arrivalNanos > Long.MAX_VALUE - ttft ? QueuedRequest.NO_DEADLINE : arrivalNanos + ttft;
    queue.put(requestId, new Entry(requestId, modelId, arrivalNanos, deadline, Math.max(1, promptTokens), ttft));
    counts.computeIfAbsent(modelId, k -> new Counts());
  }

  /** The model's latest outlook (prefill speed, step time, slots, residency). */
  public void outlook(ModelOutlook o) {
    outlooks.put(o.modelId(), o);
  }

  /** Requests that emitted their first token: their prefill is no longer pending work. */
  public void firstTokens(List<String> requestIds) {
    for (String id : requestIds) {
      committed.remove(id);
      committedSlowdown.remove(id);
      predictedFirstToken.remove(id);
    }
  }

  /**
   * Requests that emitted their first token at {@code nowNanos}: their prefill is no longer pending
   * work, and each one's actual time to first token against the one predicted when it was admitted
   * calibrates the estimates ({@link #slowdown()}).
   */
  public void firstTokens(List<String> requestIds, long nowNanos) {
    for (String id : requestIds) {
      QueuedRequest q = committed.get(id);
      Long predicted = predictedFirstToken.get(id);
      if (q != null && predicted != null) {
        double actual = Math.max(1, nowNanos - q.arrivalNanos());
        double expected = Math.max(1, predicted - q.arrivalNanos());
        double ratio = Math.max(0.5, Math.min(20, actual / expected));
        // move fast towards a slowdown (a late first token is a broken promise), slowly back
        decay(nowNanos);
        slowdown = ratio > slowdown ? 0.5 * slowdown + 0.5 * ratio : 0.8 * slowdown + 0.2 * ratio;
        slowdown = Math.max(1.0, Math.min(20, slowdown));
      }
    }
    firstTokens(requestIds);
  }

  /** The slowdown's excess over 1 halves every {@link #SLOWDOWN_HALF_LIFE_NANOS} without news (a cold start does not last). */
  private void decay(long nowNanos) {
    if (slowdownAtNanos != Long.MIN_VALUE && nowNanos > slowdownAtNanos) {
      slowdown = 1 + (slowdown - 1) * Math.pow(0.5, (nowNanos - slowdownAtNanos) / (double) SLOWDOWN_HALF_LIFE_NANOS);
    }
    slowdownAtNanos = nowNanos;
  }

  /** Half-life of the slowdown's excess: 500 ms. */
  public static final long SLOWDOWN_HALF_LIFE_NANOS = 500_000_000L;

  /**
   * How much slower than estimated first tokens have come lately (a moving average of actual over
   * predicted time to first token, at least 1): every cost is multiplied by it. It absorbs what the
   * cost model leaves out (a busy host, a cold JIT, memory waits).
   */
  public double slowdown() {
    return slowdown;
  }

  /** Requests that ended (finished, cancelled, failed, rejected, requester gone), wherever they were. */
  public void ended(List<String> requestIds) {
    for (String id : requestIds) {
      committed.remove(id);
      committedSlowdown.remove(id);
      predictedFirstToken.remove(id);
      queue.remove(id);
      deferredOnce.remove(id);
    }
  }

  /** Whether {@code requestId} is queued (not yet admitted). */
  public boolean isQueued(String requestId) {
    return queue.containsKey(requestId);
  }

  /** Forgets every request and the outlook of {@code modelId} (it left, or its owner ended them itself). */
  public void forgetModel(String modelId) {
    List<String> ids = new ArrayList<>();
    for (Entry q : queue.values()) if (q.modelId().equals(modelId)) ids.add(q.requestId());
    for (QueuedRequest q : committed.values()) if (q.modelId().equals(modelId)) ids.add(q.requestId());
    ended(ids);
  }

  /**
   * Estimated prefill time of admitted requests without a first token yet, at the current {@link
   * #slowdown()}: each was costed with the slowdown of its admission, which is rescaled to today's,
   * so that a burst of late first tokens does not leave inflated estimates behind once the slowdown
   * has decayed.
   */
  public long committedNanos() {
    double sum = 0;
    for (QueuedRequest q : committed.values()) {
      sum += q.estimatedPrefillNanos() / committedSlowdown.getOrDefault(q.requestId(), 1.0) * slowdown;
    }
    return (long) Math.min(Long.MAX_VALUE / 2, sum);
  }

  /** Requests queued, all models. */
  public int queued() {
    return queue.size();
  }

  /** Requests of {@code modelId} queued. */
  public int queued(String modelId) {
    int n = 0;
    for (Entry q : queue.values()) if (q.modelId().equals(modelId)) n++;
    return n;
  }

  /** Requests admitted whose first token has not come, all models. */
  public int committed() {
    return committed.size();
  }

  /** The counters of {@code modelId} (zeros if none). */
  public Counts counts(String modelId) {
    return counts.getOrDefault(modelId, new Counts());
  }

  /** The queued request {@code id} with its cost as of now (for tests and the simulator), or null. */
  public QueuedRequest costed(String requestId) {
    Entry e = queue.get(requestId);
    if (e == null) return null;
    return cost(new Waiting(e.requestId(), e.modelId(), e.arrivalNanos(), e.promptTokens(), e.sloNanos()),
        outlooks.getOrDefault(e.modelId(), ModelOutlook.idle(e.modelId(), 1e4)), 0, 0, slowdown);
  }

  /**
   * One queued request as {@link #decide} takes it.
   *
   * @param ttftSloNanos the model's TTFT SLO; the deadline is {@code arrivalNanos + ttftSloNanos}
   *     ({@link QueuedRequest#NO_DEADLINE} if that overflows)
   */
  public record Waiting(String requestId, String modelId, long arrivalNanos, int promptTokens, long ttftSloNanos) {}

  /**
   * The stateless core of a round, shared by {@link #round} and the simulator: costs each waiting
   * request from its model's outlook (its place in line for a slot counting the requests of its
   * model admitted ahead, {@code admittedAhead}, and those before it in {@code waiting}) and runs
   * {@link MooreHodgsonAdmission} from {@code nowNanos} after {@code committedNanos} of admitted
   * prefill work.
   *
   * @param waiting in arrival order
   * @param outlooks by model id (a missing one: idle, 1e4 tokens/s)
   * @param admittedAhead per model, requests admitted whose first token has not come
   */
  public static MooreHodgsonAdmission.Result decide(List<Waiting> waiting, Map<String, ModelOutlook> outlooks, Map<String, Integer> admittedAhead,
      long committedNanos, long nowNanos) {
    return decide(waiting, outlooks, admittedAhead, committedNanos, nowNanos, 1.0);
  }

  /** As {@link #decide(List, Map, Map, long, long)} with every cost multiplied by {@code slowdown} (see {@link #slowdown()}). */
  public static MooreHodgsonAdmission.Result decide(List<Waiting> waiting, Map<String, ModelOutlook> outlooks, Map<String, Integer> admittedAhead,
      long committedNanos, long nowNanos, double slowdown) {
    Map<String, Integer> ahead = new HashMap<>(admittedAhead);
    long decodingNanos = 0; // one decode step of every model that decodes: they take turns on the device
    for (ModelOutlook o : outlooks.values()) if (o.decoding()) decodingNanos += o.decodeStepNanos();
    List<QueuedRequest> costed = new ArrayList<>(waiting.size());
    for (Waiting w : waiting) {
      int a = ahead.getOrDefault(w.modelId(), 0);
      ModelOutlook o = outlooks.getOrDefault(w.modelId(), ModelOutlook.idle(w.modelId(), 1e4));
      costed.add(cost(w, o, a, decodingNanos - (o.decoding() ? o.decodeStepNanos() : 0), slowdown));
      ahead.put(w.modelId(), a + 1);
    }
    return MooreHodgsonAdmission.admit(costed, nowNanos, committedNanos);
  }

  private static QueuedRequest cost(Waiting w, ModelOutlook o, int ahead, long othersStepNanos, double slowdown) {
    long deadline = w.arrivalNanos() > Long.MAX_VALUE - w.ttftSloNanos() ? QueuedRequest.NO_DEADLINE : w.arrivalNanos() + w.ttftSloNanos();
    long delay = deadline == QueuedRequest.NO_DEADLINE ? 0 : Math.min((long) (o.startDelayNanos(ahead) * slowdown), deadline - w.arrivalNanos());
    return new QueuedRequest(w.requestId(), w.modelId(), w.arrivalNanos(), deadline, w.promptTokens(), o.prefillTokensPerSecond() / slowdown,
        (long) (o.overheadNanos(w.promptTokens(), othersStepNanos) * slowdown), delay);
  }

  /** One admission round at {@code nowNanos}; admitted requests leave the queue, rejected ones too. */
  public Round round(long nowNanos) {
    Map<String, List<String>> admitted = new LinkedHashMap<>();
    Map<String, Rejected> rejected = new LinkedHashMap<>();
    if (queue.isEmpty()) return new Round(admitted, rejected);
    decay(nowNanos);
    Map<String, Integer> ahead = new HashMap<>();
    for (QueuedRequest c : committed.values()) ahead.merge(c.modelId(), 1, Integer::sum);
    List<Waiting> waiting = new ArrayList<>(queue.size());
    for (Entry e : queue.values()) {
      waiting.add(new Waiting(e.requestId(), e.modelId(), e.arrivalNanos(), e.promptTokens(), planned(e.sloNanos())));
    }
    List<QueuedRequest> in;
    if (enabled) {
      MooreHodgsonAdmission.Result r = decide(waiting, outlooks, ahead, committedNanos(), nowNanos, slowdown);
      in = r.admitted();
      for (MooreHodgsonAdmission.Drop.Rejected d : r.rejected()) {
        QueuedRequest q = d.request();
        Entry e = queue.remove(q.requestId());
        deferredOnce.remove(q.requestId());
        counts.get(q.modelId()).rejected++;
        rejected.put(q.requestId(), new Rejected(q.modelId(), d.reason(), d.estimatedTtftNanos(), e.sloNanos()));
      }
      for (QueuedRequest q : r.deferred()) {
        if (deferredOnce.add(q.requestId())) counts.get(q.modelId()).deferred++;
      }
    } else {
      in = new ArrayList<>();
      for (Waiting w : waiting) in.add(cost(w, outlooks.getOrDefault(w.modelId(), ModelOutlook.idle(w.modelId(), 1e4)), 0, 0, slowdown));
      in.sort(MooreHodgsonAdmission.DEADLINE_ORDER);
    }
    long finish = nowNanos + committedNanos();
    for (QueuedRequest q : in) {
      finish += q.estimatedPrefillNanos(); // in deadline order, as Moore-Hodgson ran them
      predictedFirstToken.put(q.requestId(), Math.max(finish, nowNanos + q.startDelayNanos() + q.estimatedPrefillNanos()));
      queue.remove(q.requestId());
      deferredOnce.remove(q.requestId());
      committed.put(q.requestId(), q);
      committedSlowdown.put(q.requestId(), slowdown);
      counts.get(q.modelId()).admitted++;
      admitted.computeIfAbsent(q.modelId(), k -> new ArrayList<>()).add(q.requestId());
    }
    return new Round(admitted, rejected);
  }
}
