package io.prism.actors.model;

import io.prism.actors.ModelSpec;
import io.prism.actors.PrismSettings;
import io.prism.actors.gpu.GpuStatus;
import io.prism.actors.gpu.ModelBooks;

import io.prism.runtime.engine.EngineStats;
import io.prism.runtime.engine.ModelEngine;
import io.prism.runtime.engine.RunningSequenceInfo;
import io.prism.runtime.memory.PageLease;
import io.prism.runtime.policy.MemoryAsk;
import io.prism.runtime.policy.ModelOutlook;
import java.util.List;

/**
 * What a {@link ModelActor} measures and reports about itself: its prefill speed and decode step
 * time (moving averages from its own steps), its last activation time, whether it makes progress,
 * its own invariants, its {@link ModelOutlook} for the GPU's admission and its status. Plain state
 * of the model actor.
 */
final class ModelReports {
  private final ModelEngine engine;
  private final PageLease lease;
  private final PrismSettings settings;
  private double prefillTokensPerSecond;
  private long decodeStepNanos;
  private long activationNanos;
  private long stalledSinceNanos = -1; // real time
  private String violation = "";
  private long checks;
  private HostCopies copies;

  ModelReports(ModelEngine engine, PageLease lease, PrismSettings settings, double prefillTokensPerSecond) {
    this.engine = engine;
    this.lease = lease;
    this.settings = settings;
    this.prefillTokensPerSecond = prefillTokensPerSecond;
    // before the first activation: host-to-device at an assumed 10 GB/s
    this.activationNanos = (long) (engine.weightBytes() / 10.0);
  }

  /** One engine step computed {@code tokens} tokens in {@code nanos}; {@code stalled}: it could schedule nothing. */
  void observeStep(long tokens, long nanos, boolean stalled) {
    if (tokens >= ModelActor.SPEED_SAMPLE_TOKENS) {
      prefillTokensPerSecond = MemoryAsk.smooth(prefillTokensPerSecond, tokens * 1e9 / Math.max(1, nanos));
    } else if (tokens > 0) {
      decodeStepNanos = (long) MemoryAsk.smooth(decodeStepNanos, nanos);
    }
    if (!stalled) stalledSinceNanos = -1;
    else if (stalledSinceNanos < 0) stalledSinceNanos = System.nanoTime();
  }

  /** One full prefill chunk at the measured prefill speed (0 before a measurement). */
  private long prefillChunkNanos() {
    return prefillTokensPerSecond > 0 ? (long) (Math.max(1, settings.engine().prefillChunk()) * 1e9 / prefillTokensPerSecond) : 0;
  }

  /** The instance's host tier books: its tier status and the activation time to expect from its tier. */
  void copies(HostCopies c) {
    copies = c;
  }

  /** An activation took {@code nanos} (reclaim included). */
  void activated(long nanos) {
    activationNanos = nanos;
  }

  /**
   * When enabled: the engine's invariants, the lease's books, and that the lease's mapped pages are
   * exactly the engine's page ids times pages per id. Keeps the first violation.
   */
  void checkInvariants(boolean enabled, String after) {
    if (!enabled) return;
    checks++;
    try {
      engine.checkInvariants();
      lease.check();
      int mapped = engine.pageIdsHeld() * engine.physicalPagesPerPageId();
      if (mapped != lease.pagesHeldBy(lease.owner())) {
        throw new IllegalStateException("engine maps " + mapped + " pages but its lease says " + lease.pagesHeldBy(lease.owner()));
      }
    } catch (IllegalStateException e) {
      if (violation.isEmpty()) violation = "model " + lease.owner() + " after " + after + ": " + e.getMessage();
    }
  }

  /** The model's outlook for local admission: speeds, slots, decoding sequences' remaining tokens, residency. */
  ModelOutlook outlook(String modelId, ModelRequests requests) {
    List<RunningSequenceInfo> running = engine.runningSequences();
    int[] remaining = new int[running.size()];
    int n = 0;
    for (RunningSequenceInfo s : running) {
      if (s.decoding()) remaining[n++] = Math.max(0, requests.maxTokensOf(io.prism.runtime.engine.ModelEngine.requestIdOf(s.requestId())) - s.generatedTokens());
    }
    return new ModelOutlook(modelId, prefillTokensPerSecond > 0 ? prefillTokensPerSecond : 1e4, decodeStepNanos,
        Math.max(1, settings.engine().prefillChunk()), Math.max(1, settings.engine().maxRunningSequences()), java.util.Arrays.copyOf(remaining, n),
        engine.weightsResident(), expectedActivationNanos());
  }

  /**
   * The activation time admission should expect: 0 when resident; else the last activation measured
   * from the tier the weights are in now, or, before the first from that tier, the last activation of
   * any kind (at first the assumed 10 GB/s): a tier never measured must not count as free, or every
   * first token after it is late against its estimate and inflates admission's slowdown for all models.
   */
  private long expectedActivationNanos() {
    if (engine.weightsResident()) return 0;
    long measured = copies == null ? 0 : copies.expectedActivationNanos(engine);
    return measured > 0 ? measured : activationNanos;
  }

  /**
   * This instance's status and invariants, at {@code nowNanos} on the device clock; {@code
   * admittedNotFed} requests it holds back from the engine count as waiting (with the engine's own
   * waiting ones, and those waiting for an activation).
   */
  ModelReport report(ModelSpec spec, long nowNanos, int admittedNotFed) {
    long realNow = System.nanoTime();
    boolean stuck = stalledSinceNanos >= 0 && realNow - stalledSinceNanos > settings.stallTimeout().toNanos();
    EngineStats st = engine.stats();
    int per = engine.physicalPagesPerPageId();
    int kept = (engine.emptyPageIds() + engine.cachedPageIds()) * per + lease.stockPages();
    GpuStatus.ModelStatus s = new GpuStatus.ModelStatus(spec.id(), engine.weightBytes(), lease.heldPages(), kept, engine.pageIdsHeld(),
        engine.waitingCount() + admittedNotFed, engine.runningCount(), !stuck, st.finished(), st.cancelled(), st.failed(), st.preemptions(),
        engine.weightsResident(), engine.lastActivityNanos(), st.steps(), lease.minPagesOf(lease.owner()), lease.maxPagesOf(lease.owner()),
        spec.ttftSlo(), spec.tpotSlo(), prefillTokensPerSecond, decodeStepNanos, prefillChunkNanos(), st.computedTokens(), engine.kvBytesPerToken(), ModelBooks.EMPTY,
        copies == null ? GpuStatus.WeightTierStatus.RESIDENT : copies.status(engine));
    return new ModelReport(s, violation, checks);
  }
}
