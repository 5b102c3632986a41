package io.prism.runtime.memory;

import java.util.BitSet;
import java.util.function.IntUnaryOperator;

/**
 * The release side of a {@link BlockManager}: dropping references, turning unused cached blocks idle,
 * evicting them, and unmapping page ids that are left empty or cache-only, under the keep and pool
 * maximum rules documented on {@link BlockManager}. Works on the manager's {@link BlockStates},
 * {@link PrefixCache} (null when caching is off) and {@link PageMapper}.
 *
 * <p>Threading: confined to the engine thread.
 */
final class BlockReleases {
  private final BlockStates st;
  private final PrefixCache cache;
  private final PageMapper pages;
  private final int blocksPerPage;
  private final int keepEmptyPageIds;
  private final IntUnaryOperator checkBlock;

  BlockReleases(BlockStates st, PrefixCache cache, PageMapper pages, int keepEmptyPageIds, IntUnaryOperator checkBlock) {
    this.st = st;
    this.cache = cache;
    this.pages = pages;
    this.blocksPerPage = st.blocksPerPage;
    this.keepEmptyPageIds = keepEmptyPageIds;
    this.checkBlock = checkBlock;
  }

  /** See {@link BlockManager#free}. */
  void free(int[] blockIds) {
    checkUsedOnce(blockIds);
    for (int i = blockIds.length - 1; i >= 0; i--) {
      int page = dropReference(blockIds[i]);
      if (page < 0 || st.usedInPage[page] > 0) continue;
      if (!pages.withinMax()) {
        evictIdleIn(page); // over a lowered maximum: the cache does not keep the page either
        pages.unmap(page);
      } else if (st.isEmpty(page)) {
        keepOrUnmap(page);
      }
    }
  }

  /** See {@link BlockManager#freeAndRelease}. */
  int freeAndRelease(int[] blockIds) {
    checkUsedOnce(blockIds);
    BitSet touched = new BitSet();
    for (int i = blockIds.length - 1; i >= 0; i--) {
      int page = dropReference(blockIds[i]);
      if (page >= 0) touched.set(page);
    }
    int released = 0;
    for (int p = touched.nextSetBit(0); p >= 0; p = touched.nextSetBit(p + 1)) {
      if (st.mapped.get(p) && st.usedInPage[p] == 0) {
        evictIdleIn(p);
        pages.unmap(p);
        released++;
      }
    }
    return released;
  }

  /** See {@link BlockManager#pageIdsFreedBy}. */
  int pageIdsFreedBy(int[] blockIds) {
    int[] exclusive = new int[st.maxPages];
    int freed = 0;
    for (int b : blockIds) {
      int page = checkBlock.applyAsInt(b) / blocksPerPage;
      if (st.refCount[b] == 1 && ++exclusive[page] == st.usedInPage[page]) freed++;
    }
    return freed;
  }

  /** See {@link BlockManager#releaseEmptyPages}. */
  int releaseEmptyPages(int maxPageIds) {
    int released = 0;
    for (int p = st.mapped.length() - 1; p >= 0 && released < maxPageIds; p = st.mapped.previousSetBit(p - 1)) {
      if (st.isEmpty(p)) {
        pages.unmap(p);
        released++;
      }
    }
    return released;
  }

  /** See {@link BlockManager#dropCachedBlocks}. */
  int dropCachedBlocks(int maxPageIds) {
    if (cache == null || maxPageIds <= 0 || st.cacheOnlyPages == 0) return 0;
    int released = 0;
    for (int p : cache.pagesByRecency(blocksPerPage, st.maxPages, p -> st.mapped.get(p) && st.usedInPage[p] == 0, maxPageIds)) {
      evictIdleIn(p);
      pages.unmap(p);
      released++;
    }
    return released;
  }

  /** Evicts every idle block and unmaps every page id; the caller checked that no block is used. */
  int releaseAll() {
    int released = 0;
    for (int p = st.mapped.nextSetBit(0); p >= 0; p = st.mapped.nextSetBit(p + 1)) {
      evictIdleIn(p);
      pages.unmap(p);
      released++;
    }
    return released;
  }

  /** Evicts the idle block {@code b}: it becomes free. */
  void evict(int b) {
    cache.evict(b);
    st.idleToFree(b);
  }

  private void checkUsedOnce(int[] blockIds) {
    BitSet seen = new BitSet();
    for (int b : blockIds) {
      checkBlock.applyAsInt(b);
      if (st.refCount[b] == 0 || seen.get(b)) throw new IllegalStateException("block " + b + " is not allocated (double free?)");
      seen.set(b);
    }
  }

  /** Drops one reference; returns the block's page if the block lost its last user, else -1. */
  private int dropReference(int b) {
    if (st.refCount[b] > 1) {
      st.refCount[b]--;
      return -1;
    }
    st.refCount[b] = 0;
    boolean keep = cache != null && cache.isCached(b);
    if (keep) cache.markIdle(b);
    else if (cache != null) cache.forgetAlias(b);
    st.usedToUnused(b, keep);
    return b / blocksPerPage;
  }

  private void evictIdleIn(int page) {
    if (st.idleInPage[page] == 0) return;
    for (int b = page * blocksPerPage; b < (page + 1) * blocksPerPage; b++) {
      if (st.refCount[b] == 0 && st.occupied.get(b)) evict(b);
    }
  }

  /** {@code page} just became empty (and is counted as such): keep it if there is room, else unmap it. */
  private void keepOrUnmap(int page) {
    if (st.emptyPages <= keepEmptyPageIds) return;
    pages.unmap(page);
  }
}
