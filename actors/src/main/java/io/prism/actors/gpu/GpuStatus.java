package io.prism.actors.gpu;

import io.prism.actors.GpuId;
import io.prism.actors.PrismMessage;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One device's state, taken on its engine thread in one go (so the numbers agree with each other)
 * and completed by its GPU actor with the admission and time-sharing books and the recent
 * decisions; served by {@code GET /admin/gpus} and the metrics.
 *
 * <p>Page conservation: {@code heldPages} equals the sum of the models' {@code pagesHeld}, and
 * every page the pool created is either held or in the reserve ({@code invariantViolation} is
 * empty when the pool's own check passes).
 *
 * @param gpu the device
 * @param description e.g. {@code host-cpu-0}
 * @param incarnation id of the GPU actor instance (changes when it restarts)
 * @param budgetBytes memory budget for weights plus pages
 * @param pageBytes bytes of one physical page
 * @param capacityPages most pages that can exist beside the current weights
 * @param freePages pages that can still be handed out (reserve plus not yet created)
 * @param reservePages pre-created pages waiting in the reserve
 * @param heldPages pages held by models
 * @param weightBytes bytes of weights of all resident models
 * @param models per model instance
 * @param invariantViolation the first page-conservation violation seen, empty when none
 * @param healthy whether every engine on the device can make progress
 * @param problem why not healthy, else empty
 * @param nowNanos the device's clock when the snapshot was taken (the clock of the models' activity)
 * @param invariantChecks page-conservation checks run ({@code prism.gpu.check-invariants}), 0 when off
 * @param queued requests in the GPU's deadline queue, all models
 * @param events recent decisions, oldest first
 */
public record GpuStatus(GpuId gpu, String description, long incarnation, long budgetBytes, long pageBytes, int capacityPages,
    int freePages, int reservePages, int heldPages, long weightBytes, List<ModelStatus> models, String invariantViolation,
    boolean healthy, String problem, long nowNanos, long invariantChecks, int queued, List<GpuEvent> events) implements PrismMessage {

  /**
   * One model instance on the device.
   *
   * @param weightBytes bytes of its weights (on the device only while {@code resident})
   * @param pagesHeld physical pages its KV cache holds
   * @param pagesKept of those, pages of page ids with no block in use by a request: empty ones the
   *     model keeps as its own reserve and ones holding only prefix-cached blocks (both reclaimable);
   *     {@code pagesHeld - pagesKept} are in use by requests
   * @param pageIdsHeld KV page ids mapped (each {@code 2 * layers} physical pages)
   * @param waiting requests admitted and not yet running: queued in the engine (new or preempted), held back by the model (admissions on hold), or waiting for its weights to come back; requests still in the GPU's deadline queue are {@code books.queued()}
   * @param running requests in the running batch
   * @param progressing false when it has had work without progress for longer than the stall timeout
   * @param finished requests ended by stop or length since the instance started
   * @param cancelled requests cancelled (client gone, explicit cancel) since the instance started
   * @param failed requests failed since the instance started
   * @param preemptions sequences preempted (recompute) since the instance started
   * @param resident whether its weights are on the device (false: evicted to host memory)
   * @param lastActivityNanos its last request or step, on the device's clock
   * @param steps forward passes it ran
   * @param minPages its guaranteed pages (0: none)
   * @param maxPages its page maximum ({@link Integer#MAX_VALUE}: none)
   * @param ttftSlo its TTFT SLO
   * @param tpotSlo its TPOT SLO
   * @param prefillTokensPerSecond its prefill speed measured at load (local admission's estimate)
   * @param decodeStepNanos its measured time of one step without prefill (moving average; 0 before
   *     its first decode step)
   * @param prefillChunkNanos one full prefill chunk ({@code prism.engine.prefill-chunk} tokens) at its
   *     measured prefill speed; with {@code decodeStepNanos} what the placement's TPOT co-location
   *     guard needs ({@link io.prism.runtime.policy.TpotColocation})
   * @param computedTokens tokens its forward passes computed since the instance started (prefill and
   *     decode; the placement's token rate is measured from it)
   * @param kvBytesPerToken KV-cache bytes one token of it occupies (all layers, K and V)
   * @param books the GPU actor's admission and time-sharing counters
   */
  public record ModelStatus(String modelId, long weightBytes, int pagesHeld, int pagesKept, int pageIdsHeld, int waiting, int running,
      boolean progressing, long finished, long cancelled, long failed, long preemptions, boolean resident, long lastActivityNanos, long steps,
      int minPages, int maxPages, Duration ttftSlo, Duration tpotSlo, double prefillTokensPerSecond, long decodeStepNanos, long prefillChunkNanos, long computedTokens,
      long kvBytesPerToken, ModelBooks books, WeightTierStatus tiers)
      implements PrismMessage {
    /** Pages in use by requests in flight. */
    public int pagesInUse() {
      return pagesHeld - pagesKept;
    }

    /** This status with other books. */
    public ModelStatus withBooks(ModelBooks b) {
      return new ModelStatus(modelId, weightBytes, pagesHeld, pagesKept, pageIdsHeld, waiting, running, progressing, finished, cancelled, failed,
          preemptions, resident, lastActivityNanos, steps, minPages, maxPages, ttftSlo, tpotSlo, prefillTokensPerSecond, decodeStepNanos,
          prefillChunkNanos, computedTokens, kvBytesPerToken, b, tiers);
    }
  }

  /**
   * Where a model's weights are and what activating them cost, per tier (ServerlessLLM's GPU /
   * host / disk).
   *
   * @param tier {@code gpu} (resident), {@code host} (evicted with a host copy) or {@code disk}
   *     (evicted without one: the next activation reads the model file again)
   * @param hostCopyBytes bytes this instance holds in its node's host tier
   * @param hostActivations activations from the host copy; {@code hostActivationNanos} their total time
   * @param diskActivations activations that reloaded the model; {@code diskActivationNanos} their total time
   */
  public record WeightTierStatus(String tier, long hostCopyBytes, long hostActivations, long hostActivationNanos, long diskActivations,
      long diskActivationNanos) implements PrismMessage {
    /** No activation yet, resident. */
    public static final WeightTierStatus RESIDENT = new WeightTierStatus("gpu", 0, 0, 0, 0, 0);
  }

  /** Bytes of the budget not used by weights or held pages (reserve pages count as free). */
  public long freeBytes() {
    return budgetBytes - weightBytes - (long) heldPages * pageBytes;
  }

  /** The model {@code modelId}, or null. */
  public ModelStatus model(String modelId) {
    for (ModelStatus m : models) if (m.modelId().equals(modelId)) return m;
    return null;
  }

  /** The status of a GPU that cannot answer: unhealthy, no memory, no models; {@code problem} says why. */
  public static GpuStatus unavailable(GpuId gpu, String problem) {
    return new GpuStatus(gpu, "", 0, 0, 0, 0, 0, 0, 0, 0, List.of(), "", false, problem, 0, 0, 0, List.of());
  }

  /** This status completed with the GPU actor's books (by model id; missing ones empty), queue length and events. */
  public GpuStatus withBooks(Map<String, ModelBooks> books, int queuedRequests, List<GpuEvent> recentEvents) {
    List<ModelStatus> out = new ArrayList<>(models.size());
    for (ModelStatus m : models) out.add(m.withBooks(books.getOrDefault(m.modelId(), ModelBooks.EMPTY)));
    return new GpuStatus(gpu, description, incarnation, budgetBytes, pageBytes, capacityPages, freePages, reservePages, heldPages, weightBytes,
        List.copyOf(out), invariantViolation, healthy, problem, nowNanos, invariantChecks, queuedRequests, List.copyOf(recentEvents));
  }
}
