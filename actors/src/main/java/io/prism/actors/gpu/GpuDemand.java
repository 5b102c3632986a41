package io.prism.actors.gpu;

import io.prism.actors.ModelSpec;
import io.prism.actors.placement.GlobalPlacementActor;
import io.prism.runtime.policy.RateEstimator;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

/**
 * Each model's demand on one GPU as the placement singleton needs it for KVPR (the paper's
 * Algorithm 1): its token rate, a moving average over {@code prism.placement.rate-window} (60 s,
 * {@link RateEstimator}) of the tokens its forward passes computed (prefill and decode, as the
 * simulator counts them), fed from the cumulative counter of each status report.
 *
 * <p>Plain state owned by the GPU actor. A counter that went down (the model instance restarted)
 * counts from zero again.
 */
final class GpuDemand {
  private final RateEstimator rates;
  private final Map<String, Long> lastComputed = new HashMap<>();
  private final Map<String, long[]> lastSteps = new HashMap<>(); // decode step, prefill chunk (ns), as last reported

  /** @param window the rate's averaging window */
  GpuDemand(Duration window) {
    this.rates = new RateEstimator(window);
  }

  /**
   * The model's entry for a {@link GlobalPlacementActor.GpuReport}, recording its tokens since the
   * last report.
   *
   * @param status its latest status (null: not gathered this time; rate from earlier reports)
   * @param queued its requests waiting at this GPU's admission
   */
  GlobalPlacementActor.Resident resident(ModelSpec spec, int maxModelLen, long weightBytes, GpuStatus.ModelStatus status, int queued) {
    long now = System.nanoTime();
    String id = spec.id();
    boolean resident = true;
    long kvBytesPerToken = 1;
    int waiting = queued;
    int running = 0;
    long[] steps = lastSteps.getOrDefault(id, new long[2]);
    if (status != null) {
      long before = lastComputed.getOrDefault(id, 0L);
      long delta = status.computedTokens() >= before ? status.computedTokens() - before : status.computedTokens();
      lastComputed.put(id, status.computedTokens());
      rates.record(id, now, delta);
      resident = status.resident();
      kvBytesPerToken = Math.max(1, status.kvBytesPerToken());
      waiting += status.waiting();
      running = status.running();
      steps = new long[] {status.decodeStepNanos(), status.prefillChunkNanos()};
      lastSteps.put(id, steps);
    }
    return new GlobalPlacementActor.Resident(spec, maxModelLen, weightBytes, resident, rates.tokensPerSecond(id, now), kvBytesPerToken,
        waiting, running, steps[0], steps[1]);
  }

  /** Forgets a model that left the GPU. */
  void forget(String modelId) {
    lastComputed.remove(modelId);
    lastSteps.remove(modelId);
    rates.forget(modelId);
  }
}
