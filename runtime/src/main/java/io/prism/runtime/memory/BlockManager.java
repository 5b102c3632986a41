package io.prism.runtime.memory;

import java.util.BitSet;
import java.util.Comparator;
import java.util.List;
import java.util.TreeSet;

/**
 * Block allocator of one model instance (vLLM v1's block pool over kvcached's elastic pages): deals
 * in integer block ids only; backs page ids with physical pages from the shared {@link PagePool} on
 * demand and gives them back as soon as their last block frees.
 *
 * <pre>
 *   page id:   0                  1                  2                  3 ...
 *   blocks:   [0 1 2 3]          [4 5 6 7]          [8 9 10 11]        (blocksPerPage = 4)
 *   state:     used 3, free 1     used 1, free 3     unmapped           unmapped
 *   allocate(3) -> 3 (page 0: fewest free), 5, 6 (page 1, lowest free index)
 *   allocate(6) -> ... then maps page 2 (lowest unmapped id), taking its blocks in order
 *   free(...)  -> a page whose last used block frees is unmapped and its 2 * layers physical pages
 *                 go back to the pool at once
 * </pre>
 *
 * <p>Choice rule (deterministic): the next block comes from the mapped page with the fewest free
 * blocks greater than zero (ties: lowest page id), lowest free block index within it; only when no
 * mapped page has a free block is a new page id mapped, the lowest unmapped one. This packs blocks
 * into partly used pages so pages empty and return to the pool sooner (kvcached, Prism paper
 * section 4). Blocks of different models never share a page because each model has its own {@link
 * KvCache}. Shortage is {@link Allocation.Exhausted}, never an exception.
 *
 * <p>Threading: not thread-safe; confined to the GPU's engine thread.
 */
public final class BlockManager {
  /** Outcome of {@link #allocate(int)}. */
  public sealed interface Allocation {
    /** @param blockIds the blocks, in allocation order; now owned by the caller */
    record Granted(int[] blockIds) implements Allocation {}

    /**
     * Nothing was allocated.
     *
     * @param availableBlocks blocks that could have been allocated now (less than requested)
     */
    record Exhausted(int availableBlocks) implements Allocation {}
  }

  private final KvCache kv;
  private final PagePool pool;
  private final String owner;
  private final int blocksPerPage;
  private final int maxPages;
  private final int physicalPerPageId;
  private final BitSet usedBlocks;
  private final int[] usedInPage; // [maxPages]
  private final BitSet mappedPages;
  /** Mapped pages with at least one free block, by (free blocks ascending, page id ascending). */
  private final TreeSet<Integer> partialPages;
  private int usedBlockCount;
  private long mapCount;
  private long unmapCount;

  /**
   * @param kv the model instance's KV cache; this manager maps and unmaps all of its page ids
   * @param pool the GPU's page pool
   * @param owner the model instance's name in the pool
   * @throws IllegalArgumentException if an argument is null or the owner empty
   */
  public BlockManager(KvCache kv, PagePool pool, String owner) {
    if (kv == null || pool == null) throw new IllegalArgumentException("kv cache and pool must not be null");
    if (owner == null || owner.isEmpty()) throw new IllegalArgumentException("owner must not be empty");
    if (kv.pageBytes() != pool.pageBytes()) {
      throw new IllegalArgumentException("KV cache page size " + kv.pageBytes() + " != pool page size " + pool.pageBytes());
    }
    this.kv = kv;
    this.pool = pool;
    this.owner = owner;
    this.blocksPerPage = kv.blocksPerPage();
    this.maxPages = kv.maxPages();
    this.physicalPerPageId = kv.physicalPagesPerPageId();
    this.usedBlocks = new BitSet(kv.maxBlocks());
    this.usedInPage = new int[maxPages];
    this.mappedPages = new BitSet(maxPages);
    this.partialPages = new TreeSet<>(
        Comparator.<Integer>comparingInt(p -> blocksPerPage - usedInPage[p]).thenComparingInt(p -> p));
  }

  /** The pool owner name of this model instance. */
  public String owner() {
    return owner;
  }

  /** Tokens per block. */
  public int blockSize() {
    return kv.blockSize();
  }

  /** Blocks per page id. */
  public int blocksPerPage() {
    return blocksPerPage;
  }

  /** Block ids in the KV cache's reserved range: the most that can ever be allocated at once. */
  public int maxBlocks() {
    return kv.maxBlocks();
  }

  /** Blocks currently allocated. */
  public int usedBlocks() {
    return usedBlockCount;
  }

  /** Whether {@code blockId} is allocated. */
  public boolean isAllocated(int blockId) {
    return usedBlocks.get(checkBlock(blockId));
  }

  /** Free blocks inside mapped pages (allocatable without asking the pool). */
  public int freeBlocksInMappedPages() {
    return mappedPages.cardinality() * blocksPerPage - usedBlockCount;
  }

  /** Page ids currently mapped (each backed by {@code 2 * layers} physical pages). */
  public int pageIdsMapped() {
    return mappedPages.cardinality();
  }

  /** Page ids mapped since construction. */
  public long mapCount() {
    return mapCount;
  }

  /** Page ids unmapped since construction. */
  public long unmapCount() {
    return unmapCount;
  }

  /** Blocks that could be allocated now: free ones in mapped pages plus those the pool can back. */
  public int allocatableBlocks() {
    int newPages = Math.min(maxPages - mappedPages.cardinality(), pool.availableTo(owner) / physicalPerPageId);
    return freeBlocksInMappedPages() + newPages * blocksPerPage;
  }

  /** Whether {@link #allocate(int)} of {@code numBlocks} would succeed now. */
  public boolean canAllocate(int numBlocks) {
    if (numBlocks < 0) throw new IllegalArgumentException("block count must be >= 0, got " + numBlocks);
    return numBlocks <= allocatableBlocks();
  }

  /**
   * Allocates {@code numBlocks} blocks, all or nothing, mapping new page ids as needed.
   *
   * @return the block ids in the order of the choice rule, or {@link Allocation.Exhausted}
   * @throws IllegalArgumentException if {@code numBlocks < 0}
   * @throws DeviceException if mapping fails (the pages go back to the pool)
   */
  public Allocation allocate(int numBlocks) {
    if (numBlocks < 0) throw new IllegalArgumentException("block count must be >= 0, got " + numBlocks);
    int freeMapped = freeBlocksInMappedPages();
    int missing = numBlocks - freeMapped;
    int newPages = missing > 0 ? (missing + blocksPerPage - 1) / blocksPerPage : 0;
    if (newPages > 0) {
      if (newPages > maxPages - mappedPages.cardinality()) return new Allocation.Exhausted(allocatableBlocks());
      PageAllocation got = pool.acquire(owner, newPages * physicalPerPageId);
      if (got instanceof PageAllocation.Exhausted) return new Allocation.Exhausted(allocatableBlocks());
      mapNewPages(newPages, ((PageAllocation.Granted) got).pages());
    }
    int[] out = new int[numBlocks];
    for (int i = 0; i < numBlocks; i++) {
      int page = partialPages.pollFirst();
      int block = usedBlocks.nextClearBit(page * blocksPerPage);
      usedBlocks.set(block);
      usedInPage[page]++;
      usedBlockCount++;
      if (usedInPage[page] < blocksPerPage) partialPages.add(page);
      out[i] = block;
    }
    return new Allocation.Granted(out);
  }

  /**
   * Frees {@code blockIds}; a page id whose last block frees is unmapped and its physical pages go
   * back to the pool. All or nothing: the ids are checked first.
   *
   * @throws IllegalStateException if a block is not allocated or appears twice (double free)
   * @throws IllegalArgumentException if an id is outside {@code [0, maxBlocks)}
   */
  public void free(int[] blockIds) {
    BitSet seen = new BitSet();
    for (int b : blockIds) {
      checkBlock(b);
      if (!usedBlocks.get(b) || seen.get(b)) throw new IllegalStateException("block " + b + " is not allocated (double free?)");
      seen.set(b);
    }
    for (int b : blockIds) {
      int page = b / blocksPerPage;
      partialPages.remove(page);
      usedBlocks.clear(b);
      usedInPage[page]--;
      usedBlockCount--;
      if (usedInPage[page] == 0) {
        List<PhysicalPage> pages = kv.unmap(page);
        mappedPages.clear(page);
        unmapCount++;
        pool.release(owner, pages);
      } else {
        partialPages.add(page);
      }
    }
  }

  /**
   * Checks: every block is free or used once (bit set); each page's used count matches its blocks;
   * mapped page ids are exactly those with a used block, in this manager, in the KV cache, and in
   * the pool's count for this owner.
   *
   * @throws IllegalStateException naming the first violation
   */
  public void checkInvariants() {
    if (usedBlocks.cardinality() != usedBlockCount) {
      throw new IllegalStateException("used block count " + usedBlockCount + " != " + usedBlocks.cardinality() + " used bits");
    }
    if (usedBlocks.length() > kv.maxBlocks()) throw new IllegalStateException("block " + (usedBlocks.length() - 1) + " beyond the cache");
    for (int p = 0; p < maxPages; p++) {
      int used = usedBlocks.get(p * blocksPerPage, (p + 1) * blocksPerPage).cardinality();
      if (used != usedInPage[p]) throw new IllegalStateException("page " + p + " counts " + usedInPage[p] + " used blocks, bits say " + used);
      boolean mapped = mappedPages.get(p);
      if (mapped != (used > 0)) throw new IllegalStateException("page " + p + " mapped=" + mapped + " with " + used + " used blocks");
      if (kv.isMapped(p) != mapped) throw new IllegalStateException("page " + p + " mapped=" + mapped + " but KV cache says " + kv.isMapped(p));
      boolean partial = mapped && used < blocksPerPage;
      if (partialPages.contains(p) != partial) throw new IllegalStateException("page " + p + " partial-set membership wrong");
    }
    if (partialPages.size() != mappedPages.stream().filter(p -> usedInPage[p] < blocksPerPage).count()) {
      throw new IllegalStateException("partial page set has stale entries");
    }
    if (kv.mappedPageIds() != mappedPages.cardinality()) {
      throw new IllegalStateException("KV cache has " + kv.mappedPageIds() + " mapped page ids, manager " + mappedPages.cardinality());
    }
    long expectPhysical = (long) mappedPages.cardinality() * physicalPerPageId;
    if (pool.pagesHeldBy(owner) != expectPhysical) {
      throw new IllegalStateException("pool says " + owner + " holds " + pool.pagesHeldBy(owner) + " pages, mapped page ids need " + expectPhysical);
    }
  }

  private void mapNewPages(int newPages, List<PhysicalPage> pages) {
    int done = 0;
    int[] ids = new int[newPages];
    try {
      int next = 0;
      for (; done < newPages; done++) {
        int pageId = mappedPages.nextClearBit(next);
        kv.map(pageId, pages.subList(done * physicalPerPageId, (done + 1) * physicalPerPageId));
        mappedPages.set(pageId);
        ids[done] = pageId;
        next = pageId + 1;
      }
    } catch (RuntimeException e) {
      for (int i = 0; i < done; i++) {
        kv.unmap(ids[i]);
        mappedPages.clear(ids[i]);
      }
      pool.release(owner, pages);
      throw e;
    }
    for (int id : ids) partialPages.add(id);
    mapCount += newPages;
  }

  private int checkBlock(int blockId) {
    if (blockId < 0 || blockId >= kv.maxBlocks()) throw new IllegalArgumentException("block id " + blockId + " outside [0, " + kv.maxBlocks() + ")");
    return blockId;
  }
}
