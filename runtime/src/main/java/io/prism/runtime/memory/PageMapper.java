package io.prism.runtime.memory;

import java.util.List;

/**
 * The page layer under one {@link BlockManager}: backs page ids of the model's {@link KvCache} with
 * physical pages from the GPU's {@link PagePool} ({@code 2 * layers} of them per page id, all or
 * nothing) and gives them back, keeping {@link BlockStates#mapped} in step. Lowest unmapped page id
 * first, so blocks stay packed at the start of the virtual range.
 *
 * <p>Threading: confined to the engine thread.
 */
final class PageMapper {
  private final KvCache kv;
  private final PageSource pool;
  private final String owner;
  private final BlockStates st;
  private final int physicalPerPageId;
  private long mapCount;
  private long unmapCount;

  PageMapper(KvCache kv, PageSource pool, String owner, BlockStates st) {
    this.kv = kv;
    this.pool = pool;
    this.owner = owner;
    this.st = st;
    this.physicalPerPageId = kv.physicalPagesPerPageId();
  }

  long mapCount() {
    return mapCount;
  }

  long unmapCount() {
    return unmapCount;
  }

  /** Page ids that could be mapped now: room in the virtual range and pages the pool would grant. */
  int mappablePageIds() {
    return Math.min(st.maxPages - st.mappedCount(), pool.availableTo(owner) / physicalPerPageId);
  }

  /** Whether the owner holds no more pages than its pool maximum. */
  boolean withinMax() {
    return pool.pagesHeldBy(owner) <= pool.maxPagesOf(owner);
  }

  /**
   * Maps {@code n} new page ids (the lowest unmapped ones).
   *
   * @return false, changing nothing, if the pool does not grant the pages
   * @throws DeviceException if mapping fails (the pages go back to the pool, nothing changes)
   */
  boolean mapNew(int n) {
    PageAllocation got = pool.acquire(owner, n * physicalPerPageId);
    if (got instanceof PageAllocation.Exhausted) return false;
    List<PhysicalPage> pages = ((PageAllocation.Granted) got).pages();
    int done = 0;
    int[] ids = new int[n];
    try {
      int next = 0;
      for (; done < n; done++) {
        int pageId = st.mapped.nextClearBit(next);
        kv.map(pageId, pages.subList(done * physicalPerPageId, (done + 1) * physicalPerPageId));
        ids[done] = pageId;
        next = pageId + 1;
      }
    } catch (RuntimeException e) {
      for (int i = 0; i < done; i++) kv.unmap(ids[i]);
      pool.release(owner, pages);
      throw e;
    }
    for (int id : ids) st.mapped(id);
    mapCount += n;
    return true;
  }

  /** Unmaps the empty page id {@code page} and gives its physical pages back to the pool. */
  void unmap(int page) {
    st.unmapped(page);
    List<PhysicalPage> pages = kv.unmap(page);
    unmapCount++;
    pool.release(owner, pages);
  }

  /** Asks the pool to keep {@code pageIds} page ids' worth of pre-created pages for this owner. */
  void wantReserve(int pageIds) {
    pool.setReserveWanted(owner, pageIds * physicalPerPageId);
  }

  /**
   * Checks that mapped page ids agree with the KV cache and with the pool's count for this owner.
   *
   * @throws IllegalStateException naming the first violation
   */
  void check() {
    for (int p = 0; p < st.maxPages; p++) {
      if (kv.isMapped(p) != st.mapped.get(p)) throw new IllegalStateException("page " + p + " mapped=" + st.mapped.get(p) + " but KV cache says " + kv.isMapped(p));
    }
    if (kv.mappedPageIds() != st.mappedCount()) {
      throw new IllegalStateException("KV cache has " + kv.mappedPageIds() + " mapped page ids, manager " + st.mappedCount());
    }
    long expectPhysical = (long) st.mappedCount() * physicalPerPageId;
    if (pool.pagesHeldBy(owner) != expectPhysical) {
      throw new IllegalStateException("pool says " + owner + " holds " + pool.pagesHeldBy(owner) + " pages, mapped page ids need " + expectPhysical);
    }
  }
}
