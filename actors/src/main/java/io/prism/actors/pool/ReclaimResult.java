package io.prism.actors.pool;

import io.prism.actors.PrismMessage;

/**
 * What one step of a reclaim plan (or an idle eviction) did, reported by the model that carried it
 * out on its own engine.
 *
 * @param action the step's kind ({@code ReclaimEmptyPages}, {@code DropCachedBlocks}, {@code
 *     EvictWeights}, {@code PreemptDecode})
 * @param modelId the model that gave pages
 * @param pagesPlanned pages the plan expected
 * @param pagesFreed pool pages the step actually gave back
 * @param detail what happened, for the event log
 */
public record ReclaimResult(String action, String modelId, int pagesPlanned, int pagesFreed, String detail) implements PrismMessage {}
