package io.prism.runtime.memory;

import java.util.List;

/**
 * Where one model's {@link BlockManager} gets physical pages and gives them back: the calls the
 * engine makes on a page pool, in the pool's pages. Two implementations:
 *
 * <ul>
 *   <li>{@link PagePool}: the GPU's whole pool, for code that owns it outright (the engine tests,
 *       the CLI's single-model runs, benchmarks);
 *   <li>{@link PageLease}: one model's share of a pool that another owner (the GPU's page pool
 *       actor) keeps; pages arrive by {@link PageLease#grant} and leave by {@link
 *       PageLease#takeUnmapped}, so the engine never touches the pool itself.
 * </ul>
 *
 * <p>{@code owner} is the model's owner name ({@code model.id()}); a lease serves exactly one.
 * Shortage is a value ({@link PageAllocation.Exhausted}), never an exception. Threading: confined
 * to the thread of whoever owns the engine.
 */
public interface PageSource {
  /** Bytes of one physical page (the device granularity). */
  long pageBytes();

  /**
   * Hands {@code n} unmapped pages to {@code owner}, all or nothing.
   *
   * @return exactly {@code n} pages, or {@link PageAllocation.Exhausted} with {@link #availableTo}
   * @throws IllegalArgumentException if {@code n < 0} or the owner is wrong
   */
  PageAllocation acquire(String owner, int n);

  /**
   * Takes back unmapped pages that {@code owner} holds.
   *
   * @throws IllegalStateException if a page is not held by {@code owner} (double release)
   */
  void release(String owner, List<PhysicalPage> pages);

  /** Pages {@link #acquire} could hand {@code owner} now. */
  int availableTo(String owner);

  /** Pages {@code owner} has acquired and not released (the pages backing its mapped page ids). */
  int pagesHeldBy(String owner);

  /** {@code owner}'s page maximum ({@link Integer#MAX_VALUE} if none). */
  int maxPagesOf(String owner);

  /** {@code owner}'s guaranteed minimum in pages (0 if none). */
  int minPagesOf(String owner);

  /** Bytes of weights accounted to {@code owner} (0 while evicted or unknown). */
  long weightBytesOf(String owner);

  /** Most pages that can exist at once beside the current weights. */
  int capacityPages();

  /**
   * Under time sharing, the most KV pages this source's owner could hold if every other model's
   * weights left the device (budget minus its own weights), or 0 without time sharing. Requests
   * that fit this never get a "too large" refusal because idle neighbours sit in memory.
   */
  default int timeSharedCapacityPages() {
    return 0;
  }

  /** {@code owner} would like {@code pages} pages kept ready for its next page id. */
  void setReserveWanted(String owner, int pages);
}
