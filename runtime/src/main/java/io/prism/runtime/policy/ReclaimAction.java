package io.prism.runtime.policy;

/**
 * One step of a reclaim plan ({@link ReclaimPolicy}); {@link #pages()} is what the step yields to
 * the requester. Events in the past tense ({@code PagesReclaimed}) are the actors' business; these
 * are imperative steps.
 */
public sealed interface ReclaimAction {
  /** Pages this step makes available. */
  int pages();

  /** Hand out {@code pages} of the pool's pre-mapped reserve (the pool refills it afterwards). */
  record TakeReserve(int pages) implements ReclaimAction {}

  /** Take back {@code pages} empty pages that {@code modelId} holds. */
  record ReclaimEmptyPages(String modelId, int pages) implements ReclaimAction {}

  /** Drop cached prefix blocks of {@code modelId} until {@code pages} of its pages are empty, then take them. */
  record DropCachedBlocks(String modelId, int pages) implements ReclaimAction {}

  /**
   * Evict the idle model {@code modelId}'s weights to host memory and release all its KV pages;
   * yields its weight pages plus the KV pages it still held.
   */
  record EvictWeights(String modelId, int pages) implements ReclaimAction {}

  /** Preempt (recompute later) running sequence {@code sequenceId} of {@code modelId}, freeing its pages. */
  record PreemptDecode(String modelId, String sequenceId, int pages, long slackNanos) implements ReclaimAction {}
}
