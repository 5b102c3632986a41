package io.prism.runtime.memory;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Prefix caching, kept empty page ids and reclaim in {@link BlockManager}. */
class BlockManagerCacheTest {
  private static final int B = 4; // tokens per block; 4 blocks per page id; 4 physical pages per page id
  private final HostDeviceMemory memory = new HostDeviceMemory(KvTestShapes.PAGE_BYTES);
  private final KvCache kv = KvCache.reserve(memory, KvTestShapes.config("m", 2, 64), B, 4, 64);
  private PagePool pool;

  private BlockManager manager(int budgetPages, boolean caching, int keepEmpty) {
    pool = new PagePool(memory, budgetPages * KvTestShapes.PAGE_BYTES, 0);
    return new BlockManager(kv, pool, "m", caching, keepEmpty);
  }

  private static int[] granted(BlockManager.Allocation a) {
    return assertInstanceOf(BlockManager.Allocation.Granted.class, a).blockIds();
  }

  /** Tokens {@code base, base + 1, ...}: {@code n} of them. */
  private static int[] tokens(int base, int n) {
    int[] t = new int[n];
    for (int i = 0; i < n; i++) t[i] = base + i;
    return t;
  }

  private static int[] concat(int[] a, int[] b) {
    int[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  /** Registers every full block of {@code table} holding {@code toks}, as the scheduler does after a step. */
  private static void cacheChain(BlockManager bm, int[] table, int[] toks) {
    for (int i = 0; i < toks.length / B; i++) bm.cacheFullBlock(table[i], i == 0 ? -1 : table[i - 1], Arrays.copyOfRange(toks, i * B, (i + 1) * B));
  }

  private void check(BlockManager bm) {
    bm.checkInvariants();
    pool.checkInvariants();
  }

  @AfterEach
  void closeCache() {
    if (kv.mappedPageIds() == 0) kv.close();
  }

  @Test
  void freedFullBlocksStayCachedAndAPrefixHitTakesThemBack() {
    BlockManager bm = manager(100, true, 0);
    int[] t = tokens(10, 11);
    int[] table = granted(bm.allocate(3));
    cacheChain(bm, table, t); // two full blocks; the third holds 3 tokens and is not cached
    bm.free(table);
    check(bm);
    assertEquals(0, bm.usedBlocks());
    assertEquals(2, bm.idleCachedBlocks());
    assertEquals(1, bm.pageIdsMapped(), "the cached blocks keep their page id mapped");
    assertEquals(1, bm.cachedPageIds());

    int[] hit = bm.acquireCachedPrefix(t, 10);
    assertArrayEquals(new int[] {table[0], table[1]}, hit);
    assertEquals(1, bm.refCount(table[0]));
    assertEquals(0, bm.idleCachedBlocks());
    assertEquals(0, bm.cachedPageIds());
    check(bm);
    assertArrayEquals(new int[] {table[0]}, bm.acquireCachedPrefix(t, 1), "at most maxBlocks");
    assertEquals(2, bm.refCount(table[0]), "a hit block is shared");
    bm.free(new int[] {table[0]});
    assertTrue(bm.isAllocated(table[0]), "a shared block frees only with its last user");
    bm.free(hit);
    assertEquals(2, bm.idleCachedBlocks());
    check(bm);
  }

  @Test
  void aHitNeedsTheWholePrefixToMatch() {
    BlockManager bm = manager(100, true, 0);
    int[] x = tokens(10, B), y = tokens(20, B), z = tokens(30, B);
    int[] table = granted(bm.allocate(2));
    cacheChain(bm, table, concat(x, y));
    bm.free(table);

    assertEquals(0, bm.cachedPrefixBlocks(concat(z, y), 2), "same second block after another first block");
    assertEquals(1, bm.cachedPrefixBlocks(concat(x, z), 2));
    assertEquals(2, bm.cachedPrefixBlocks(concat(x, y), 2));
    assertEquals(0, bm.cachedPrefixBlocks(Arrays.copyOf(x, B - 1), 2), "only whole blocks");
    check(bm);
  }

  @Test
  void contentComputedTwiceIsAnAliasWhoseChildrenJoinTheCachedChain() {
    BlockManager bm = manager(100, true, 0);
    int[] x = tokens(10, B), y = tokens(20, B), w = tokens(40, B);
    int[] first = granted(bm.allocate(2));
    cacheChain(bm, first, concat(x, y));
    int[] second = granted(bm.allocate(2)); // the same first block computed again, then other tokens
    cacheChain(bm, second, concat(x, w));

    assertTrue(bm.isCached(first[0]));
    assertFalse(bm.isCached(second[0]), "duplicate content is not indexed twice");
    assertTrue(bm.isCached(second[1]));
    bm.free(second);
    assertFalse(bm.isAllocated(second[0]), "the uncached duplicate is free at once");
    assertArrayEquals(new int[] {first[0], second[1]}, bm.acquireCachedPrefix(concat(x, w), 2));
    check(bm);
  }

  @Test
  void allocationMapsNewPagesBeforeItEvictsTheLeastRecentlyUsedBlock() {
    BlockManager bm = manager(8, true, 0); // two page ids at most
    int[] p = tokens(100, 4 * B), q = tokens(200, 4 * B);
    int[] pt = granted(bm.allocate(4));
    int[] qt = granted(bm.allocate(4));
    cacheChain(bm, pt, p);
    cacheChain(bm, qt, q);
    bm.free(pt); // LRU: p3 p2 p1 p0 (tail first)
    bm.free(qt); // then q3 q2 q1 q0
    assertEquals(8, bm.idleCachedBlocks());
    assertEquals(8, bm.allocatableBlocks());

    assertArrayEquals(new int[] {pt[3]}, granted(bm.allocate(1)), "the pool is full: the oldest idle block is reused");
    assertEquals(1, bm.evictedBlocks());
    assertEquals(3, bm.cachedPrefixBlocks(p, 4), "the head of p is still cached");
    assertEquals(4, bm.cachedPrefixBlocks(q, 4));
    check(bm);
  }

  @Test
  void droppingCachedBlocksUnmapsTheLeastRecentlyUsedCacheOnlyPageFirst() {
    BlockManager bm = manager(100, true, 0);
    int[] p = tokens(100, 4 * B), q = tokens(200, 4 * B);
    int[] pt = granted(bm.allocate(4));
    int[] qt = granted(bm.allocate(4));
    cacheChain(bm, pt, p);
    cacheChain(bm, qt, q);
    bm.free(qt);
    bm.free(pt); // p is the more recent
    assertEquals(2, bm.cachedPageIds());

    assertEquals(1, bm.dropCachedBlocks(1));
    assertEquals(0, bm.cachedPrefixBlocks(q, 4));
    assertEquals(4, bm.cachedPrefixBlocks(p, 4));
    assertEquals(1, bm.pageIdsMapped());
    assertEquals(4, pool.pagesHeldBy("m"));
    check(bm);
    assertEquals(1, bm.dropCachedBlocks(5));
    assertEquals(0, bm.pageIdsMapped());
    assertEquals(0, bm.dropCachedBlocks(5));
    check(bm);
  }

  @Test
  void keepsAtMostReservePageIdsEmptyAndReleasesThemOnDemand() {
    BlockManager bm = manager(100, false, 1);
    assertEquals(4, pool.reserveWantedBy("m"), "one page id of reserve asked of the pool");
    int[] table = granted(bm.allocate(8));
    bm.free(table);
    assertEquals(1, bm.pageIdsMapped(), "one empty page id kept, the other unmapped");
    assertEquals(1, bm.emptyPageIds());
    check(bm);

    // blocks free last first, so page id 1 emptied first and is the one kept
    assertArrayEquals(new int[] {4, 5, 6, 7}, granted(bm.allocate(4)), "the kept page id is reused without a map");
    assertEquals(2, bm.mapCount());
    bm.free(new int[] {4, 5, 6, 7});
    assertEquals(1, bm.releaseEmptyPages(5));
    assertEquals(0, bm.pageIdsMapped());
    assertEquals(0, pool.pagesHeldBy("m"));
    check(bm);
    bm.wantReserve(false);
    assertEquals(0, pool.reserveWantedBy("m"));
  }

  @Test
  void aLoweredMaximumShrinksTheModelLazilyAndReusesCachedBlocksInPlace() {
    BlockManager bm = manager(100, true, 1);
    int[] p = tokens(100, 4 * B);
    int[] pt = granted(bm.allocate(4));
    int[] other = granted(bm.allocate(4));
    cacheChain(bm, pt, p);
    bm.free(pt); // page 0 cache-only
    pool.setLimits("m", 0, 4); // one page id; it holds two
    assertEquals(8, pool.pagesHeldBy("m"), "nothing is taken back at once");
    assertEquals(4, bm.allocatableBlocks(), "no new page ids over the maximum; the cached blocks can be reused");
    int[] again = granted(bm.allocate(2));
    assertEquals(2, bm.evictedBlocks());
    bm.free(other);
    assertEquals(1, bm.pageIdsMapped(), "over the maximum a page id left without a used block is released");
    assertEquals(4, pool.pagesHeldBy("m"));
    bm.free(again);
    assertEquals(1, bm.cachedPageIds(), "within the maximum again: the head of p stays cached");
    assertEquals(2, bm.cachedPrefixBlocks(p, 4));
    check(bm);
  }

  @Test
  void freeAndReleaseGivesBackEveryPageLeftWithoutAUsedBlock() {
    BlockManager bm = manager(100, true, 1);
    int[] p = tokens(100, 5 * B);
    int[] s = granted(bm.allocate(5)); // page 0 full, one block in page 1
    int[] t = granted(bm.allocate(1)); // page 1
    cacheChain(bm, s, p);
    assertEquals(1, bm.pageIdsFreedBy(s), "page 1 also holds t's block");
    int[] u = bm.acquireCachedPrefix(p, 1); // u shares s's first block
    assertEquals(0, bm.pageIdsFreedBy(s));
    bm.free(u);

    assertEquals(1, bm.freeAndRelease(s));
    assertEquals(1, bm.pageIdsMapped());
    assertEquals(0, bm.emptyPageIds(), "released, not kept");
    assertEquals(0, bm.cachedPrefixBlocks(p, 5), "its cached blocks were evicted with the page");
    assertEquals(1, bm.idleCachedBlocks(), "the cached block in page 1 stays");
    check(bm);
    bm.free(t);
    assertThrows(IllegalStateException.class, () -> bm.free(t));
    assertEquals(1, bm.releaseAll());
    assertEquals(0, pool.heldPages());
    check(bm);
  }
}
