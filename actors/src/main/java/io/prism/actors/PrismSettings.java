package io.prism.actors;

import io.prism.actors.gpu.GpuPolicySettings;

import com.typesafe.config.Config;
import io.prism.runtime.engine.EngineOptions;
import java.time.Duration;

/**
 * The {@code prism.*} settings the actors use, read once from the actor system's config (every key
 * and its default is documented in this module's {@code reference.conf}).
 *
 * @param backend {@code prism.node.backend}: {@code host} or {@code cuda}
 * @param gpuCount {@code prism.node.gpu-count}
 * @param joinSelf {@code prism.node.join-self}
 * @param askTimeout {@code prism.node.ask-timeout}
 * @param healthTimeout {@code prism.node.health-timeout}
 * @param registerTimeout {@code prism.node.register-timeout}
 * @param memoryBudgetBytes {@code prism.gpu.memory-budget}
 * @param hostPageBytes {@code prism.gpu.host-page-size}
 * @param hostThreads {@code prism.gpu.host-threads}
 * @param reservePages {@code prism.gpu.reserve-pages}
 * @param reportInterval {@code prism.gpu.report-interval}
 * @param engine {@code prism.engine.*} as the runtime's options
 * @param maxQueuedRequests {@code prism.engine.max-queued-requests}
 * @param stallBackoff {@code prism.engine.stall-backoff}
 * @param stallTimeout {@code prism.engine.stall-timeout}
 * @param maxRestarts {@code prism.engine.max-restarts}
 * @param restartWindow {@code prism.engine.restart-window}
 * @param defaultTtftSlo {@code prism.models.default-ttft-slo}
 * @param defaultTpotSlo {@code prism.models.default-tpot-slo}
 * @param drainTimeout {@code prism.node.drain-timeout}
 * @param policies {@code prism.gpu.*} of memory ballooning and local scheduling
 * @param hostPool {@code prism.node.host-pool-*}: the pinned host pool of a {@code cuda} node
 */
public record PrismSettings(
    String backend,
    int gpuCount,
    boolean joinSelf,
    Duration askTimeout,
    Duration healthTimeout,
    Duration registerTimeout,
    long memoryBudgetBytes,
    long hostPageBytes,
    int hostThreads,
    int reservePages,
    Duration reportInterval,
    EngineOptions engine,
    int maxQueuedRequests,
    Duration stallBackoff,
    Duration stallTimeout,
    int maxRestarts,
    Duration restartWindow,
    Duration defaultTtftSlo,
    Duration defaultTpotSlo,
    Duration drainTimeout,
    GpuPolicySettings policies,
    io.prism.actors.model.HostTierSettings.PinnedPool hostPool) {

  /**
   * Reads the settings.
   *
   * @throws com.typesafe.config.ConfigException if a key is missing or of the wrong type (the
   *     message names the key)
   * @throws IllegalArgumentException naming the key whose value is out of range
   */
  public static PrismSettings from(Config root) {
    Config c = root.getConfig("prism");
    String backend = c.getString("node.backend");
    if (!backend.equals("host") && !backend.equals("cuda")) {
      throw new IllegalArgumentException("prism.node.backend must be 'host' or 'cuda', got '" + backend + "'");
    }
    int gpuCount = c.getInt("node.gpu-count");
    if (gpuCount < 0 || (gpuCount == 0 && backend.equals("host"))) {
      throw new IllegalArgumentException("prism.node.gpu-count must be >= 1 for the host backend (>= 0 for cuda), got " + gpuCount);
    }
    EngineOptions engine = EngineOptions.defaults()
        .withBlockSize(c.getInt("engine.block-size"))
        .withMaxBatchTokens(c.getInt("engine.max-batch-tokens"))
        .withMaxRunningSequences(c.getInt("engine.max-running-sequences"))
        .withPrefillChunk(c.getInt("engine.prefill-chunk"))
        .withKvCapacityTokens(c.getInt("engine.kv-capacity-tokens"))
        .withBosEndsSequence(c.getBoolean("engine.bos-ends-sequence"))
        .withPrefixCaching(c.getBoolean("engine.prefix-caching"))
        .withReservePageIds(c.getInt("engine.reserve-page-ids"))
        .withHostThreads(Math.max(1, c.getInt("gpu.host-threads")));
    PrismSettings s = new PrismSettings(
        backend,
        gpuCount,
        c.getBoolean("node.join-self"),
        c.getDuration("node.ask-timeout"),
        c.getDuration("node.health-timeout"),
        c.getDuration("node.register-timeout"),
        c.getBytes("gpu.memory-budget"),
        c.getBytes("gpu.host-page-size"),
        c.getInt("gpu.host-threads"),
        c.getInt("gpu.reserve-pages"),
        c.getDuration("gpu.report-interval"),
        engine,
        c.getInt("engine.max-queued-requests"),
        c.getDuration("engine.stall-backoff"),
        c.getDuration("engine.stall-timeout"),
        c.getInt("engine.max-restarts"),
        c.getDuration("engine.restart-window"),
        c.getDuration("models.default-ttft-slo"),
        c.getDuration("models.default-tpot-slo"),
        c.getDuration("node.drain-timeout"),
        GpuPolicySettings.from(c),
        io.prism.actors.model.HostTierSettings.pinnedPool(root));
    if (s.memoryBudgetBytes <= 0) throw new IllegalArgumentException("prism.gpu.memory-budget must be > 0, got " + s.memoryBudgetBytes);
    if (s.hostThreads < 1) throw new IllegalArgumentException("prism.gpu.host-threads must be >= 1, got " + s.hostThreads);
    if (s.reservePages < 0) throw new IllegalArgumentException("prism.gpu.reserve-pages must be >= 0, got " + s.reservePages);
    if (s.maxQueuedRequests < 1) throw new IllegalArgumentException("prism.engine.max-queued-requests must be >= 1, got " + s.maxQueuedRequests);
    return s;
  }

  /** Config path of the dispatcher (one thread) of device {@code index} on this node. */
  public static String dispatcherId(int index) {
    return "prism.gpu.dispatchers.gpu-" + index;
  }
}
