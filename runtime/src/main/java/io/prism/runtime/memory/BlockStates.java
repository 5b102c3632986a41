package io.prism.runtime.memory;

import java.util.BitSet;
import java.util.Comparator;
import java.util.TreeSet;

/**
 * The state of every block and page id of one {@link BlockManager}, with the counters kept in step:
 * a block is free, <b>used</b> (reference count {@code >= 1}) or <b>idle</b> (cached, unused); a
 * mapped page id is used (has a used block), cache-only (idle blocks, no used one) or empty. Pure
 * bookkeeping: no driver, pool or cache calls. Every transition goes through {@link #begin}/{@link
 * #end} around the change so the ordered set of partly free pages and the page counters stay right.
 *
 * <p>Threading: confined to the engine thread.
 */
final class BlockStates {
  final int blocksPerPage;
  final int maxPages;
  final int[] refCount; // [maxBlocks]
  final BitSet occupied; // [maxBlocks] used or idle
  final int[] usedInPage; // [maxPages]
  final int[] idleInPage; // [maxPages]
  final BitSet mapped; // [maxPages]
  /** Mapped pages with at least one free block, by (free blocks ascending, page id ascending). */
  private final TreeSet<Integer> partialPages;
  int usedBlocks;
  int idleBlocks;
  int emptyPages;
  int cacheOnlyPages;

  BlockStates(int maxBlocks, int blocksPerPage, int maxPages) {
    this.blocksPerPage = blocksPerPage;
    this.maxPages = maxPages;
    this.refCount = new int[maxBlocks];
    this.occupied = new BitSet(maxBlocks);
    this.usedInPage = new int[maxPages];
    this.idleInPage = new int[maxPages];
    this.mapped = new BitSet(maxPages);
    this.partialPages = new TreeSet<>(Comparator.<Integer>comparingInt(this::freeIn).thenComparingInt(p -> p));
  }

  int freeIn(int page) {
    return blocksPerPage - usedInPage[page] - idleInPage[page];
  }

  boolean isEmpty(int page) {
    return usedInPage[page] == 0 && idleInPage[page] == 0;
  }

  int mappedCount() {
    return mapped.cardinality();
  }

  /** Free blocks in mapped pages. */
  int freeMapped() {
    return mapped.cardinality() * blocksPerPage - usedBlocks - idleBlocks;
  }

  /** Before changing {@code page}'s counts: take it out of the sets and counters. */
  private void begin(int page) {
    if (!mapped.get(page)) return;
    partialPages.remove(page);
    if (isEmpty(page)) emptyPages--;
    else if (usedInPage[page] == 0) cacheOnlyPages--;
  }

  /** After changing {@code page}'s counts: put it back where it now belongs. */
  private void end(int page) {
    if (!mapped.get(page)) return;
    if (freeIn(page) > 0) partialPages.add(page);
    if (isEmpty(page)) emptyPages++;
    else if (usedInPage[page] == 0) cacheOnlyPages++;
  }

  void mapped(int page) {
    if (mapped.get(page) || !isEmpty(page)) throw new IllegalStateException("page id " + page + " is mapped or not empty");
    mapped.set(page);
    end(page);
  }

  void unmapped(int page) {
    if (!mapped.get(page) || !isEmpty(page)) throw new IllegalStateException("page id " + page + " is not mapped or still has used or cached blocks");
    begin(page);
    mapped.clear(page);
  }

  /** Takes the next free block by the choice rule and makes it used; -1 if no mapped page has one. */
  int takeFree() {
    if (partialPages.isEmpty()) return -1;
    int page = partialPages.first();
    int block = occupied.nextClearBit(page * blocksPerPage);
    begin(page);
    occupied.set(block);
    refCount[block] = 1;
    usedInPage[page]++;
    usedBlocks++;
    end(page);
    return block;
  }

  /** An idle block gets a user again. */
  void idleToUsed(int block) {
    int page = block / blocksPerPage;
    begin(page);
    idleInPage[page]--;
    idleBlocks--;
    usedInPage[page]++;
    usedBlocks++;
    refCount[block] = 1;
    end(page);
  }

  /** A used block loses its last user: becomes idle ({@code keepCached}) or free. */
  void usedToUnused(int block, boolean keepCached) {
    int page = block / blocksPerPage;
    begin(page);
    usedInPage[page]--;
    usedBlocks--;
    if (keepCached) {
      idleInPage[page]++;
      idleBlocks++;
    } else {
      occupied.clear(block);
    }
    end(page);
  }

  /** An idle block is evicted: becomes free. */
  void idleToFree(int block) {
    int page = block / blocksPerPage;
    begin(page);
    idleInPage[page]--;
    idleBlocks--;
    occupied.clear(block);
    end(page);
  }

  /**
   * Checks that counts, bits and sets agree; {@code idle} tells which unused occupied blocks the
   * cache holds.
   *
   * @throws IllegalStateException naming the first violation
   */
  void check(java.util.function.IntPredicate idle) {
    int used = 0, idles = 0, empty = 0, cacheOnly = 0, partial = 0;
    for (int p = 0; p < maxPages; p++) {
      int u = 0, i = 0;
      for (int b = p * blocksPerPage; b < (p + 1) * blocksPerPage; b++) {
        if (refCount[b] < 0) throw new IllegalStateException("block " + b + " has reference count " + refCount[b]);
        if (refCount[b] > 0) {
          if (!occupied.get(b)) throw new IllegalStateException("used block " + b + " is not marked occupied");
          u++;
        } else if (occupied.get(b)) {
          if (!idle.test(b)) throw new IllegalStateException("unused occupied block " + b + " is not idle in the cache");
          i++;
        } else if (idle.test(b)) {
          throw new IllegalStateException("free block " + b + " is idle in the cache");
        }
      }
      if (u != usedInPage[p] || i != idleInPage[p]) {
        throw new IllegalStateException("page " + p + " counts " + usedInPage[p] + " used / " + idleInPage[p] + " idle, blocks say " + u + " / " + i);
      }
      used += u;
      idles += i;
      boolean m = mapped.get(p);
      if (!m && u + i > 0) throw new IllegalStateException("unmapped page id " + p + " has " + u + " used and " + i + " idle blocks");
      if (m && u + i == 0) empty++;
      if (m && u == 0 && i > 0) cacheOnly++;
      boolean isPartial = m && u + i < blocksPerPage;
      if (isPartial) partial++;
      if (partialPages.contains(p) != isPartial) throw new IllegalStateException("page " + p + " partial-set membership wrong");
    }
    if (partial != partialPages.size()) throw new IllegalStateException("partial page set has stale entries");
    if (used != usedBlocks || idles != idleBlocks) {
      throw new IllegalStateException("counted " + usedBlocks + " used / " + idleBlocks + " idle blocks, bits say " + used + " / " + idles);
    }
    if (empty != emptyPages || cacheOnly != cacheOnlyPages) {
      throw new IllegalStateException("counted " + emptyPages + " empty / " + cacheOnlyPages + " cache-only page ids, pages say " + empty + " / " + cacheOnly);
    }
  }
}
