package io.prism.runtime.memory;


/**
 * Block allocator of one model instance (vLLM v1's block pool over kvcached's elastic pages): deals
 * in integer block ids only; backs page ids with physical pages from the shared {@link PagePool} on
 * demand and gives them back when no block in them is used or cached.
 *
 * <pre>
 *   page id:   0                  1                  2                  3 ...
 *   blocks:   [0 1 2 3]          [4 5 6 7]          [8 9 10 11]        (blocksPerPage = 4)
 *   state:     U U C .            C C C C            . . . .            unmapped
 *              used 2, idle 1     cache-only         empty (kept)
 *   U used (reference count >= 1)   C cached, unused (idle, in the LRU)   . free
 * </pre>
 *
 * <p>Block states: <b>free</b>; <b>used</b> by one or more sequences (a reference count); <b>idle</b>: cached, used by nobody, kept so that a later request with
 * the same prefix skips computing it ({@link PrefixCache}), evictable at any time. Only full
 * blocks are ever shared: cached ones found by a later request, and the prompt blocks of the choices
 * of one {@code n > 1} request ({@link #share}). Page id states:
 * mapped with a used block; <b>cache-only</b> (idle blocks only: {@link #dropCachedBlocks} unmaps
 * it); <b>empty</b> (kept mapped, at most {@code reservePageIds} of them, so a model that frees and
 * refills a page does not unmap and remap it: {@link #releaseEmptyPages}); unmapped.
 *
 * <p>Choice rule for {@link #allocate} (deterministic): free blocks of mapped pages first, from the
 * page with the fewest free blocks (ties: lowest page id), lowest index within it; then new page ids
 * (lowest unmapped id) while the pool grants them; only then idle cached blocks are evicted, least
 * recently used first. Packing into partly used pages makes pages empty sooner (kvcached, Prism paper
 * section 4). Blocks of different models never share a page: each model has its own {@link KvCache}.
 * Shortage is {@link Allocation.Exhausted}, never an exception.
 *
 * <p>A lowered pool maximum ({@link PagePool#setLimits}) is respected lazily: acquires beyond it
 * fail, idle blocks are then reused in place, and while the owner holds more than its maximum every
 * page id that loses its last used block is released (neither kept empty nor kept for its cached
 * blocks). Nothing in use is taken back.
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

  private final String owner;
  private final int maxBlocks;
  private final int blockSize;
  private final int blocksPerPage;
  private final int physicalPerPageId;
  private final int keepEmptyPageIds;
  private final PrefixCache cache; // null when prefix caching is off
  private final BlockStates st;
  private final PageMapper pages;
  private final BlockReleases releases;

  /**
   * A manager without prefix caching that unmaps a page id as soon as its last block frees.
   *
   * @see #BlockManager(KvCache, PageSource, String, boolean, int)
   */
  public BlockManager(KvCache kv, PageSource pool, String owner) {
    this(kv, pool, owner, false, 0);
  }

  /**
   * @param kv the model instance's KV cache; this manager maps and unmaps all of its page ids
   * @param pool the GPU's page pool
   * @param owner the model instance's name in the pool
   * @param prefixCaching keep full blocks of finished sequences for reuse ({@link #acquireCachedPrefix})
   * @param reservePageIds page ids kept mapped while empty, and asked of the pool's reserve ({@link
   *     PagePool#setReserveWanted}, in physical pages: {@code reservePageIds * 2 * layers}), {@code >= 0}
   * @throws IllegalArgumentException if an argument is null, the owner empty or the count negative
   */
  public BlockManager(KvCache kv, PageSource pool, String owner, boolean prefixCaching, int reservePageIds) {
    if (kv == null || pool == null) throw new IllegalArgumentException("kv cache and pool must not be null");
    if (owner == null || owner.isEmpty()) throw new IllegalArgumentException("owner must not be empty");
    if (reservePageIds < 0) throw new IllegalArgumentException("reservePageIds must be >= 0, got " + reservePageIds);
    if (kv.pageBytes() != pool.pageBytes()) {
      throw new IllegalArgumentException("KV cache page size " + kv.pageBytes() + " != pool page size " + pool.pageBytes());
    }
    this.owner = owner;
    this.maxBlocks = kv.maxBlocks();
    this.blockSize = kv.blockSize();
    this.blocksPerPage = kv.blocksPerPage();
    this.physicalPerPageId = kv.physicalPagesPerPageId();
    this.keepEmptyPageIds = reservePageIds;
    this.cache = prefixCaching ? new PrefixCache(kv.maxBlocks(), blockSize) : null;
    this.st = new BlockStates(kv.maxBlocks(), blocksPerPage, kv.maxPages());
    this.pages = new PageMapper(kv, pool, owner, st);
    this.releases = new BlockReleases(st, cache, pages, reservePageIds, this::checkBlock);
    if (reservePageIds > 0) wantReserve(true);
  }

  /** The pool owner name of this model instance. */
  public String owner() {
    return owner;
  }

  /** Tokens per block. */
  public int blockSize() {
    return blockSize;
  }

  /** Blocks per page id. */
  public int blocksPerPage() {
    return blocksPerPage;
  }

  /** Physical pool pages behind one page id ({@code 2 * layers}). */
  public int physicalPagesPerPageId() {
    return physicalPerPageId;
  }

  /** Block ids in the KV cache's reserved range: the most that can ever be allocated at once. */
  public int maxBlocks() {
    return maxBlocks;
  }

  /** Whether full blocks are cached for reuse. */
  public boolean prefixCaching() {
    return cache != null;
  }

  /** Blocks used by at least one sequence. */
  public int usedBlocks() {
    return st.usedBlocks;
  }

  /** Cached blocks no sequence uses (evictable). */
  public int idleCachedBlocks() {
    return st.idleBlocks;
  }

  /** Whether {@code blockId} is used by a sequence. */
  public boolean isAllocated(int blockId) {
    return st.refCount[checkBlock(blockId)] > 0;
  }

  /** Sequences using {@code blockId}. */
  public int refCount(int blockId) {
    return st.refCount[checkBlock(blockId)];
  }

  /** Whether {@code blockId} is in the prefix cache (used or idle). */
  public boolean isCached(int blockId) {
    return cache != null && cache.isCached(checkBlock(blockId));
  }

  /** Free blocks inside mapped pages (allocatable without asking the pool or evicting). */
  public int freeBlocksInMappedPages() {
    return st.freeMapped();
  }

  /** Page ids currently mapped (each backed by {@code 2 * layers} physical pages). */
  public int pageIdsMapped() {
    return st.mappedCount();
  }

  /** Mapped page ids with no used and no cached block (kept for reuse; {@link #releaseEmptyPages}). */
  public int emptyPageIds() {
    return st.emptyPages;
  }

  /** Mapped page ids whose only occupied blocks are idle cached ones ({@link #dropCachedBlocks}). */
  public int cachedPageIds() {
    return st.cacheOnlyPages;
  }

  /** Page ids mapped since construction. */
  public long mapCount() {
    return pages.mapCount();
  }

  /** Page ids unmapped since construction. */
  public long unmapCount() {
    return pages.unmapCount();
  }

  /** Cached blocks evicted since construction. */
  public long evictedBlocks() {
    return cache == null ? 0 : cache.evictions();
  }

  /** Blocks that could be allocated now: free ones in mapped pages, those the pool can back, idle cached ones. */
  public int allocatableBlocks() {
    return st.freeMapped() + pages.mappablePageIds() * blocksPerPage + st.idleBlocks;
  }

  /** Whether {@link #allocate(int)} of {@code numBlocks} would succeed now. */
  public boolean canAllocate(int numBlocks) {
    if (numBlocks < 0) throw new IllegalArgumentException("block count must be >= 0, got " + numBlocks);
    return numBlocks <= allocatableBlocks();
  }

  /**
   * Allocates {@code numBlocks} fresh blocks (reference count 1), all or nothing, by the choice rule.
   *
   * @return the block ids in the order of the choice rule, or {@link Allocation.Exhausted}
   * @throws IllegalArgumentException if {@code numBlocks < 0}
   * @throws DeviceException if mapping fails (the pages go back to the pool, nothing changes)
   */
  public Allocation allocate(int numBlocks) {
    if (numBlocks < 0) throw new IllegalArgumentException("block count must be >= 0, got " + numBlocks);
    int missing = numBlocks - st.freeMapped();
    if (missing > 0) {
      int newPages = Math.min((missing + blocksPerPage - 1) / blocksPerPage, pages.mappablePageIds());
      int toEvict = missing - newPages * blocksPerPage;
      if (toEvict > st.idleBlocks) return new Allocation.Exhausted(allocatableBlocks());
      if (newPages > 0 && !pages.mapNew(newPages)) return new Allocation.Exhausted(allocatableBlocks());
      for (int i = 0; i < toEvict; i++) releases.evict(cache.oldestIdle());
    }
    int[] out = new int[numBlocks];
    for (int i = 0; i < numBlocks; i++) out[i] = st.takeFree();
    return new Allocation.Granted(out);
  }

  /**
   * Drops one reference to each of {@code blockIds}, last block first (so a sequence's tail blocks
   * are older in the LRU than its head and are evicted first). A block nobody uses any more becomes
   * idle if it is cached, free otherwise; a page id left with no used and no cached block is kept if
   * fewer than {@code reservePageIds} are kept, else unmapped and its physical pages given back to the
   * pool. While the owner holds more than its pool maximum, a page id left without a used block is
   * released at once, its cached blocks evicted. All or nothing: the ids are checked first.
   *
   * @throws IllegalStateException if a block is not used or appears twice (double free)
   * @throws IllegalArgumentException if an id is outside {@code [0, maxBlocks)}
   */
  public void free(int[] blockIds) {
    releases.free(blockIds);
  }

  /**
   * Frees {@code blockIds} like {@link #free} and then releases every page id they leave without a
   * used block (evicting its idle cached blocks, keeping none empty): memory given back for another
   * model (decode preemption under pressure).
   *
   * @return page ids unmapped
   */
  public int freeAndRelease(int[] blockIds) {
    return releases.freeAndRelease(blockIds);
  }

  /**
   * Page ids that {@link #freeAndRelease} of {@code blockIds} would unmap: those whose every used
   * block is in {@code blockIds} with no other user.
   */
  public int pageIdsFreedBy(int[] blockIds) {
    return releases.pageIdsFreedBy(blockIds);
  }

  /**
   * Takes a reference to the cached blocks that hold the longest cached prefix of {@code tokens},
   * at most {@code maxBlocks} blocks; the caller puts them at the head of its block table and skips
   * computing their {@code blocks * blockSize} tokens. Idle hits leave the LRU.
   *
   * @return the hit blocks in order (empty without prefix caching or on a miss)
   */
  public int[] acquireCachedPrefix(int[] tokens, int maxBlocks) {
    if (cache == null) return new int[0];
    int[] hits = cache.longestPrefix(tokens, maxBlocks);
    for (int b : hits) {
      if (st.refCount[b] == 0) {
        cache.markUsed(b);
        st.idleToUsed(b);
      } else {
        st.refCount[b]++;
      }
    }
    return hits;
  }

  /**
   * Takes one more reference to each of the used blocks {@code blockIds}: another sequence's block
   * table will hold them too ({@code n > 1} choices sharing their prompt's full blocks). The caller
   * guarantees that no holder writes into them (they are full). All or nothing.
   *
   * @throws IllegalStateException if a block is not used
   */
  public void share(int[] blockIds) {
    for (int b : blockIds) if (st.refCount[checkBlock(b)] == 0) throw new IllegalStateException("block " + b + " is not used; only used blocks are shared");
    for (int b : blockIds) st.refCount[b]++;
  }

  /** Blocks {@link #acquireCachedPrefix} would hit now (a dry run). */
  public int cachedPrefixBlocks(int[] tokens, int maxBlocks) {
    return cachedPrefix(tokens, maxBlocks).length;
  }

  /** The block ids {@link #acquireCachedPrefix} would hit now, in order (a dry run). */
  public int[] cachedPrefix(int[] tokens, int maxBlocks) {
    return cache == null ? new int[0] : cache.longestPrefix(tokens, maxBlocks);
  }

  /**
   * Registers the used, now full block {@code blockId} holding {@code tokens} (exactly {@code
   * blockSize}) in the prefix cache, after {@code parentBlockId} ({@code -1} for a sequence's first
   * block). No-op without prefix caching, for an already registered block, or when the parent is not
   * registered.
   *
   * @throws IllegalStateException if the block is not used
   */
  public void cacheFullBlock(int blockId, int parentBlockId, int[] tokens) {
    if (cache == null) return;
    if (st.refCount[checkBlock(blockId)] == 0) throw new IllegalStateException("block " + blockId + " is not used; only used full blocks are cached");
    if (cache.nodeOf(blockId) != PrefixCache.NONE) return;
    long parent = parentBlockId < 0 ? PrefixCache.ROOT : cache.nodeOf(checkBlock(parentBlockId));
    if (parent != PrefixCache.NONE) cache.register(blockId, parent, tokens);
  }

  /**
   * Unmaps up to {@code maxPageIds} empty page ids (highest id first) and gives their pages back.
   *
   * @return page ids unmapped
   */
  public int releaseEmptyPages(int maxPageIds) {
    return releases.releaseEmptyPages(maxPageIds);
  }

  /**
   * Evicts the idle cached blocks of up to {@code maxPageIds} cache-only page ids and unmaps them,
   * least recently used page first (a page's recency is that of its most recently used idle block).
   *
   * @return page ids unmapped
   */
  public int dropCachedBlocks(int maxPageIds) {
    return releases.dropCachedBlocks(maxPageIds);
  }

  /**
   * Evicts every idle cached block and unmaps every page id (shutdown, weight eviction).
   *
   * @return page ids unmapped
   * @throws IllegalStateException if a block is still used
   */
  public int releaseAll() {
    if (st.usedBlocks != 0) throw new IllegalStateException(st.usedBlocks + " KV blocks of " + owner + " are still used");
    return releases.releaseAll();
  }

  /**
   * Asks the pool to keep ({@code true}) or stop keeping ({@code false}) {@code reservePageIds} page
   * ids' worth of pre-created pages for this owner ({@link PagePool#setReserveWanted}).
   */
  public void wantReserve(boolean want) {
    pages.wantReserve(want ? keepEmptyPageIds : 0);
  }

  /**
   * Checks reference counts, page counts and state sets, the prefix cache, the bound on kept empty
   * page ids, and that mapped page ids agree with the KV cache and with the pool's count for this
   * owner.
   *
   * @throws IllegalStateException naming the first violation
   */
  public void checkInvariants() {
    st.check(b -> cache != null && cache.isIdle(b));
    if (cache != null) {
      cache.checkInvariants();
      if (cache.idleCount() != st.idleBlocks) throw new IllegalStateException("cache has " + cache.idleCount() + " idle blocks, pages count " + st.idleBlocks);
    }
    if (st.emptyPages > keepEmptyPageIds) throw new IllegalStateException(st.emptyPages + " empty page ids kept, at most " + keepEmptyPageIds);
    pages.check();
  }




  private int checkBlock(int blockId) {
    if (blockId < 0 || blockId >= maxBlocks) throw new IllegalArgumentException("block id " + blockId + " outside [0, " + maxBlocks + ")");
    return blockId;
  }
}
