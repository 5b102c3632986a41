package io.prism.runtime.memory;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class BlockManagerTest {
  private static final int BLOCK_SIZE = 4;
  private final HostDeviceMemory memory = new HostDeviceMemory(KvTestShapes.PAGE_BYTES);
  // 2 layers: 4 physical pages per page id; 4 blocks per page id; 64 tokens = 4 page ids = 16 blocks
  private final KvCache kv = KvCache.reserve(memory, KvTestShapes.config("m", 2, 64), BLOCK_SIZE, 4, 64);

  private BlockManager manager(long budgetPages, int reserve) {
    return new BlockManager(kv, new PagePool(memory, budgetPages * KvTestShapes.PAGE_BYTES, reserve), "m");
  }

  private static int[] granted(BlockManager.Allocation a) {
    return assertInstanceOf(BlockManager.Allocation.Granted.class, a).blockIds();
  }

  @AfterEach
  void closeCache() {
    if (kv.mappedPageIds() == 0) kv.close();
  }

  @Test
  void layoutIsFourBlocksPerPageIdOfFourPhysicalPages() {
    assertEquals(4, kv.blocksPerPage());
    assertEquals(4, kv.physicalPagesPerPageId());
    assertEquals(4, kv.maxPages());
  }

  @Test
  void mapsAPageIdWhenItsFirstBlockIsNeeded() {
    PagePool pool = new PagePool(memory, 100 * KvTestShapes.PAGE_BYTES, 0);
    BlockManager bm = new BlockManager(kv, pool, "m");

    assertArrayEquals(new int[] {0, 1, 2}, granted(bm.allocate(3)));
    assertEquals(1, bm.pageIdsMapped());
    assertTrue(kv.isMapped(0));
    assertEquals(4, pool.pagesHeldBy("m"));
    assertEquals(1, bm.freeBlocksInMappedPages());

    assertArrayEquals(new int[] {3, 4, 5}, granted(bm.allocate(3)));
    assertEquals(2, bm.pageIdsMapped());
    assertEquals(8, pool.pagesHeldBy("m"));
    bm.checkInvariants();
    pool.checkInvariants();
  }

  @Test
  void allocatesAcrossSeveralNewPageIdsInOrder() {
    BlockManager bm = manager(100, 0);
    assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, granted(bm.allocate(10)));
    assertEquals(3, bm.pageIdsMapped());
    bm.checkInvariants();
  }

  @Test
  void prefersThePartlyUsedPageWithFewestFreeBlocks() {
    BlockManager bm = manager(100, 0);
    granted(bm.allocate(12)); // page ids 0, 1, 2 full
    bm.free(new int[] {4, 6}); // page 1: 2 free
    bm.free(new int[] {9}); // page 2: 1 free
    bm.free(new int[] {0, 1, 3}); // page 0: 3 free

    assertArrayEquals(new int[] {9, 4, 6, 0}, granted(bm.allocate(4)));
    bm.checkInvariants();
  }

  @Test
  void breaksTiesByLowestPageId() {
    BlockManager bm = manager(100, 0);
    granted(bm.allocate(12));
    bm.free(new int[] {10}); // page 2: 1 free
    bm.free(new int[] {5}); // page 1: 1 free

    assertArrayEquals(new int[] {5}, granted(bm.allocate(1)));
    assertArrayEquals(new int[] {10}, granted(bm.allocate(1)));
    assertArrayEquals(new int[] {12}, granted(bm.allocate(1)), "a new page id only when no mapped page has room");
    bm.checkInvariants();
  }

  @Test
  void unmapsAPageIdWhenItsLastBlockFreesAndGivesItsPagesBack() {
    PagePool pool = new PagePool(memory, 100 * KvTestShapes.PAGE_BYTES, 2);
    BlockManager bm = new BlockManager(kv, pool, "m");
    int[] blocks = granted(bm.allocate(6));

    bm.free(new int[] {4});
    assertEquals(2, bm.pageIdsMapped());
    bm.free(new int[] {5});
    assertEquals(1, bm.pageIdsMapped());
    assertFalse(kv.isMapped(1));
    assertEquals(4, pool.pagesHeldBy("m"));
    assertEquals(2, pool.reservePages(), "two pages kept for reuse");
    assertEquals(6, memory.livePages());
    bm.checkInvariants();
    pool.checkInvariants();

    bm.free(new int[] {blocks[0], blocks[1], blocks[2], blocks[3]});
    assertEquals(0, bm.pageIdsMapped());
    assertEquals(0, pool.pagesHeldBy("m"));
    assertEquals(0, memory.mappedPages());
    assertEquals(2, memory.livePages());
    pool.checkInvariants();
    bm.checkInvariants();
  }

  @Test
  void shortageIsAValueAndChangesNothing() {
    // 9 physical pages: two page ids of 4 pages each fit, a third does not
    PagePool pool = new PagePool(memory, 9 * KvTestShapes.PAGE_BYTES, 0);
    BlockManager bm = new BlockManager(kv, pool, "m");
    granted(bm.allocate(7));
    assertTrue(bm.canAllocate(1));
    assertFalse(bm.canAllocate(2));

    assertEquals(new BlockManager.Allocation.Exhausted(1), bm.allocate(2));

    assertEquals(7, bm.usedBlocks());
    assertEquals(2, bm.pageIdsMapped());
    assertEquals(8, pool.pagesHeldBy("m"));
    bm.checkInvariants();
    pool.checkInvariants();
  }

  @Test
  void shortageWhenTheKvCacheRangeIsFull() {
    BlockManager bm = manager(100, 0);
    granted(bm.allocate(16));
    assertEquals(new BlockManager.Allocation.Exhausted(0), bm.allocate(1));
    assertEquals(16, bm.maxBlocks());
  }

  @Test
  void doubleFreeThrowsAndChangesNothing() {
    BlockManager bm = manager(100, 0);
    int[] b = granted(bm.allocate(3));
    bm.free(new int[] {b[0]});

    assertThrows(IllegalStateException.class, () -> bm.free(new int[] {b[1], b[0]}));
    assertThrows(IllegalStateException.class, () -> bm.free(new int[] {b[2], b[2]}));
    assertThrows(IllegalArgumentException.class, () -> bm.free(new int[] {99}));
    assertEquals(2, bm.usedBlocks());
    assertTrue(bm.isAllocated(b[1]));
    bm.checkInvariants();
  }

  @Test
  void respectsThePoolsPerOwnerMaximum() {
    PagePool pool = new PagePool(memory, 100 * KvTestShapes.PAGE_BYTES, 0);
    pool.setLimits("m", 0, 4);
    BlockManager bm = new BlockManager(kv, pool, "m");
    granted(bm.allocate(4));
    assertEquals(new BlockManager.Allocation.Exhausted(0), bm.allocate(1));
  }
}
