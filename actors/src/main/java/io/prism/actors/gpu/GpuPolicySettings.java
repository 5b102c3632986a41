package io.prism.actors.gpu;

import com.typesafe.config.Config;
import java.time.Duration;

/**
 * The {@code prism.gpu.*} settings of memory ballooning and local scheduling on each GPU (issue 5;
 * every key and its default is documented in this module's {@code reference.conf}).
 *
 * @param idleEviction {@code prism.gpu.idle-eviction}: a model idle this long may have its weights
 *     evicted to host memory (the paper's 45 s)
 * @param evictIdleModels {@code prism.gpu.evict-idle-models}: whether idle models are evicted on a
 *     timer and by reclaim; off keeps every model resident (the static-partition baseline)
 * @param deadlineAdmission {@code prism.gpu.deadline-admission}: Moore-Hodgson admission by TTFT
 *     deadline across the GPU's models; off admits every request at once
 * @param reclaimTimeout {@code prism.gpu.reclaim-timeout}: a reclaim negotiation not finished within
 *     it is abandoned (the requester asks again)
 * @param reclaimRetry {@code prism.gpu.reclaim-retry}: after a refused negotiation a model waits
 *     this long before asking again for the same shortage
 * @param eventLogSize {@code prism.gpu.event-log-size}: decisions kept per GPU for {@code /admin/gpus}
 * @param checkInvariants {@code prism.gpu.check-invariants}: check page conservation after every
 *     step and every reclaim action (tests)
 * @param traceSteps {@code prism.gpu.trace-steps}: per-step samples of pages held kept per GPU (0: off)
 * @param maxQueuedRequests {@code prism.gpu.max-queued-requests}: requests a GPU takes at once across
 *     its models (queued at admission plus in their engines); beyond it HTTP 429 with Retry-After
 * @param swapIdleAfter {@code prism.gpu.swap-idle-after}: when a model needs room for its weights
 *     (loading, or activation after eviction), reclaim may evict models idle at least this long,
 *     least recently used first (time sharing: a GPU serves more models than it holds at once)
 * @param maxResidentModels {@code prism.gpu.max-resident-models}: most models whose weights the GPU
 *     holds at once, 0 for no limit; 1 is the one-model-per-GPU serving of the ServerlessLLM-like
 *     and QLM-like baselines (the page pool refuses a second model's weights; reclaim evicts the
 *     resident one once it is idle for {@code swap-idle-after})
 * @param swapOverhead {@code prism.gpu.swap-overhead}: extra time every activation of evicted
 *     weights takes before the model steps again (the engine restart of a QLM model swap); 0 for
 *     Prism's pre-initialised engines
 * @param requestGroups {@code prism.gpu.request-groups}: QLM's request groups: when a model's
 *     weights cannot come in because of the residency limit, the resident models start no new
 *     sequence for half the waiting model's TTFT SLO, so their current group ends and the swap happens
 */
public record GpuPolicySettings(Duration idleEviction, boolean evictIdleModels, boolean deadlineAdmission, Duration reclaimTimeout,
    Duration reclaimRetry, int eventLogSize, boolean checkInvariants, int traceSteps, int maxQueuedRequests, Duration swapIdleAfter,
    int maxResidentModels, Duration swapOverhead, boolean requestGroups) {

  /** The defaults of {@code reference.conf}. */
  public static final GpuPolicySettings DEFAULTS =
      new GpuPolicySettings(Duration.ofSeconds(45), true, true, Duration.ofSeconds(5), Duration.ofMillis(20), 100, false, 0, 4096, Duration.ofSeconds(1),
          0, Duration.ZERO, false);

  public GpuPolicySettings {
    if (idleEviction == null || idleEviction.isNegative()) throw new IllegalArgumentException("prism.gpu.idle-eviction must be >= 0, got " + idleEviction);
    if (reclaimTimeout == null || reclaimTimeout.isNegative() || reclaimTimeout.isZero()) {
      throw new IllegalArgumentException("prism.gpu.reclaim-timeout must be > 0, got " + reclaimTimeout);
    }
    if (reclaimRetry == null || reclaimRetry.isNegative()) throw new IllegalArgumentException("prism.gpu.reclaim-retry must be >= 0, got " + reclaimRetry);
    if (eventLogSize < 1) throw new IllegalArgumentException("prism.gpu.event-log-size must be >= 1, got " + eventLogSize);
    if (traceSteps < 0) throw new IllegalArgumentException("prism.gpu.trace-steps must be >= 0, got " + traceSteps);
    if (swapIdleAfter == null || swapIdleAfter.isNegative()) throw new IllegalArgumentException("prism.gpu.swap-idle-after must be >= 0, got " + swapIdleAfter);
    if (maxResidentModels < 0) throw new IllegalArgumentException("prism.gpu.max-resident-models must be >= 0, got " + maxResidentModels);
    if (swapOverhead == null || swapOverhead.isNegative()) throw new IllegalArgumentException("prism.gpu.swap-overhead must be >= 0, got " + swapOverhead);
    if (maxResidentModels > 0 && !evictIdleModels) {
      throw new IllegalArgumentException("prism.gpu.max-resident-models = " + maxResidentModels + " needs prism.gpu.evict-idle-models = on "
          + "(a model can only take the GPU when the resident one is evicted)");
    }
    if (maxQueuedRequests < 1) throw new IllegalArgumentException("prism.gpu.max-queued-requests must be >= 1, got " + maxQueuedRequests);
  }

  /**
   * Reads {@code prism.gpu.*} of {@code prism} (the {@code prism} sub-config).
   *
   * @throws com.typesafe.config.ConfigException if a key is missing or of the wrong type
   * @throws IllegalArgumentException naming the key whose value is out of range
   */
  public static GpuPolicySettings from(Config prism) {
    Config g = prism.getConfig("gpu");
    return new GpuPolicySettings(g.getDuration("idle-eviction"), g.getBoolean("evict-idle-models"), g.getBoolean("deadline-admission"),
        g.getDuration("reclaim-timeout"), g.getDuration("reclaim-retry"), g.getInt("event-log-size"), g.getBoolean("check-invariants"),
        g.getInt("trace-steps"), g.getInt("max-queued-requests"), g.getDuration("swap-idle-after"), g.getInt("max-resident-models"),
        g.getDuration("swap-overhead"), g.getBoolean("request-groups"));
  }
}
