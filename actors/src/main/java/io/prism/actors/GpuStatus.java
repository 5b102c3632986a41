package io.prism.actors;

import java.util.List;

/**
 * One device's state, taken on its engine thread in one go (so the numbers agree with each other);
 * served by {@code GET /admin/gpus}.
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
 * @param invariantViolation the pool's invariant check failure, empty when it holds
 * @param healthy whether every engine on the device can make progress
 * @param problem why not healthy, else empty
 */
public record GpuStatus(GpuId gpu, String description, long incarnation, long budgetBytes, long pageBytes, int capacityPages,
    int freePages, int reservePages, int heldPages, long weightBytes, List<ModelStatus> models, String invariantViolation,
    boolean healthy, String problem) implements PrismMessage {

  /**
   * One model instance on the device.
   *
   * @param pagesHeld physical pages its KV cache holds
   * @param pagesKept of those, pages of page ids with no block in use by a request: empty ones the
   *     model keeps as its own reserve and ones holding only prefix-cached blocks (both reclaimable);
   *     {@code pagesHeld - pagesKept} are in use by requests
   * @param pageIdsHeld KV page ids mapped (each {@code 2 * layers} physical pages)
   * @param waiting requests queued, not yet running
   * @param running requests in the running batch
   * @param progressing false when it has had work without progress for longer than the stall timeout
   * @param finished requests ended by stop or length since the instance started
   * @param cancelled requests cancelled (client gone, explicit cancel) since the instance started
   * @param failed requests failed since the instance started
   * @param preemptions sequences preempted (recompute) since the instance started
   */
  public record ModelStatus(String modelId, long weightBytes, int pagesHeld, int pagesKept, int pageIdsHeld, int waiting, int running, boolean progressing,
      long finished, long cancelled, long failed, long preemptions) implements PrismMessage {
    /** Pages in use by requests in flight. */
    public int pagesInUse() {
      return pagesHeld - pagesKept;
    }
  }

  /** Bytes of the budget not used by weights or held pages (reserve pages count as free). */
  public long freeBytes() {
    return budgetBytes - weightBytes - (long) heldPages * pageBytes;
  }
}
