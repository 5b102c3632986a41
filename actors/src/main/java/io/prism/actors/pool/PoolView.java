package io.prism.actors.pool;

import io.prism.actors.PrismMessage;
import io.prism.actors.gpu.GpuStatus;

import java.util.Map;

/**
 * The page pool of one device as its {@link PagePoolActor} sees it, taken in one go (the numbers
 * agree with each other): what {@link GpuStatus} shows of the pool.
 *
 * @param description the device, e.g. {@code host-cpu-0}
 * @param budgetBytes memory budget for weights plus pages
 * @param pageBytes bytes of one physical page
 * @param capacityPages most pages that can exist beside the current weights
 * @param freePages pages that can still be handed out (reserve plus not yet created)
 * @param reservePages pre-created pages in the reserve
 * @param heldPages pages held by models (granted, not returned)
 * @param weightBytes bytes of weights of all resident models
 * @param holdings pages held per model
 * @param invariantViolation the first violation of the pool's own accounting seen, empty when none
 * @param invariantChecks checks of the pool's accounting run ({@code prism.gpu.check-invariants})
 */
public record PoolView(String description, long budgetBytes, long pageBytes, int capacityPages, int freePages, int reservePages, int heldPages,
    long weightBytes, Map<String, Integer> holdings, String invariantViolation, long invariantChecks) implements PrismMessage {}
