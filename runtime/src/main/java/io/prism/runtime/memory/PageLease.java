package io.prism.runtime.memory;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * One model's share of a GPU's page pool, kept by the model's owner (its model actor) while the pool
 * itself belongs to someone else (the page pool actor). The pool grants pages by message; they wait
 * here, unmapped, in the <em>stock</em> until the model's {@link BlockManager} acquires them for a
 * page id; pages it releases come back to the stock and go back to the pool by message ({@link
 * #takeUnmapped}).
 *
 * <pre>
 *   pool's books for this owner = granted - returned = mapped + stock (+ pages in flight by message)
 *   |-- mapped (backing page ids: pagesHeldBy) --|-- stock (granted, unmapped) --|
 * </pre>
 *
 * <p>Limits and weight bytes are copies of the pool's, set by the owner when the pool confirmed
 * them; {@code capacityPages} is the pool's last reported capacity (a hint for the request check).
 * Every page handed out is either mapped, in the stock or returned, exactly once: {@link #check()}
 * verifies the lease's own books, and a page released twice or never granted is an {@link
 * IllegalStateException}.
 *
 * <p>Threading: not thread-safe; confined to the owner's thread (the device's engine thread).
 */
public final class PageLease implements PageSource {
  private final String owner;
  private final long pageBytes;
  private final ArrayDeque<PhysicalPage> stock = new ArrayDeque<>();
  private final Set<PhysicalPage> mapped = new HashSet<>();
  private int minPages;
  private int maxPages = Integer.MAX_VALUE;
  private long weightBytes;
  private int capacityPages;
  private int reserveWanted;
  private long granted;
  private long returned;

  /**
   * @param owner the model's owner name
   * @param pageBytes the pool's page size in bytes
   * @param capacityPages the pool's capacity beside the weights, in pages (a hint; see {@link #capacity})
   * @throws IllegalArgumentException if {@code owner} is empty or a size is not positive
   */
  public PageLease(String owner, long pageBytes, int capacityPages) {
    if (owner == null || owner.isEmpty()) throw new IllegalArgumentException("owner must not be empty");
    if (pageBytes <= 0) throw new IllegalArgumentException("pageBytes must be > 0, got " + pageBytes);
    this.owner = owner;
    this.pageBytes = pageBytes;
    this.capacityPages = Math.max(0, capacityPages);
  }

  /** The owner this lease serves. */
  public String owner() {
    return owner;
  }

  /** Pages granted by the pool arrive: they join the stock. */
  public void grant(List<PhysicalPage> pages) {
    for (PhysicalPage p : pages) {
      if (mapped.contains(p) || stock.contains(p)) throw new IllegalStateException("page " + p + " granted twice to " + owner);
      stock.addLast(p);
    }
    granted += pages.size();
  }

  /**
   * Takes up to {@code max} unmapped pages out of the stock to give back to the pool (the caller
   * sends them); the stock keeps {@code keep} pages if it can.
   *
   * @return the pages taken, possibly none
   */
  public List<PhysicalPage> takeUnmapped(int keep, int max) {
    int n = Math.min(max, Math.max(0, stock.size() - Math.max(0, keep)));
    List<PhysicalPage> out = new ArrayList<>(n);
    for (int i = 0; i < n; i++) out.add(stock.pollLast());
    returned += n;
    return out;
  }

  /** Pages granted and not mapped (waiting to back a page id, or to go back). */
  public int stockPages() {
    return stock.size();
  }

  /** Pages this owner holds in the pool's books: mapped plus stock. */
  public int heldPages() {
    return mapped.size() + stock.size();
  }

  /** Pages granted since creation. */
  public long grantedPages() {
    return granted;
  }

  /** Pages handed back to the pool since creation. */
  public long returnedPages() {
    return returned;
  }

  /** The pool confirmed new limits for this owner (copies used by the engine's checks). */
  public void limits(int minPages, int maxPages) {
    this.minPages = Math.max(0, minPages);
    this.maxPages = maxPages <= 0 ? Integer.MAX_VALUE : maxPages;
  }

  /** The pool confirmed {@code bytes} of weights for this owner (0: evicted). */
  public void weightBytes(long bytes) {
    this.weightBytes = Math.max(0, bytes);
  }

  private int timeSharedCapacityPages;

  /** Sets {@link #timeSharedCapacityPages()} (budget pages minus the owner's weight pages; 0: no time sharing). */
  public void timeSharedCapacity(int pages) {
    this.timeSharedCapacityPages = Math.max(0, pages);
  }

  @Override
  public int timeSharedCapacityPages() {
    return timeSharedCapacityPages;
  }

  /** The pool's capacity beside the weights changed (a hint for {@link #capacityPages()}). */
  public void capacity(int pages) {
    this.capacityPages = Math.max(0, pages);
  }

  /** Pages of reserve the engine asked for ({@link #setReserveWanted}); the owner keeps that many in stock. */
  public int reserveWanted() {
    return reserveWanted;
  }

  @Override
  public long pageBytes() {
    return pageBytes;
  }

  @Override
  public PageAllocation acquire(String owner, int n) {
    checkOwner(owner);
    if (n < 0) throw new IllegalArgumentException("page count must be >= 0, got " + n);
    if (n == 0) return new PageAllocation.Granted(List.of());
    int available = availableTo(owner);
    if (n > available) return new PageAllocation.Exhausted(available);
    List<PhysicalPage> out = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      PhysicalPage p = stock.pollFirst();
      mapped.add(p);
      out.add(p);
    }
    return new PageAllocation.Granted(out);
  }

  @Override
  public void release(String owner, List<PhysicalPage> pages) {
    checkOwner(owner);
    for (PhysicalPage p : pages) {
      if (!mapped.contains(p)) throw new IllegalStateException("page " + p + " is not held by " + owner + " (double release?)");
    }
    for (PhysicalPage p : pages) {
      mapped.remove(p);
      stock.addLast(p);
    }
  }

  @Override
  public int availableTo(String owner) {
    checkOwner(owner);
    long room = (long) maxPages - mapped.size();
    return (int) Math.max(0, Math.min(stock.size(), room));
  }

  @Override
  public int pagesHeldBy(String owner) {
    return this.owner.equals(owner) ? mapped.size() : 0;
  }

  @Override
  public int maxPagesOf(String owner) {
    return this.owner.equals(owner) ? maxPages : Integer.MAX_VALUE;
  }

  @Override
  public int minPagesOf(String owner) {
    return this.owner.equals(owner) ? minPages : 0;
  }

  @Override
  public long weightBytesOf(String owner) {
    return this.owner.equals(owner) ? weightBytes : 0;
  }

  @Override
  public int capacityPages() {
    return capacityPages;
  }

  @Override
  public void setReserveWanted(String owner, int pages) {
    checkOwner(owner);
    reserveWanted = Math.max(0, pages);
  }

  /**
   * Checks the lease's books: granted pages are mapped, in the stock or returned, each once.
   *
   * @throws IllegalStateException naming the violation
   */
  public void check() {
    if (granted - returned != (long) mapped.size() + stock.size()) {
      throw new IllegalStateException(owner + ": granted " + granted + " - returned " + returned + " != mapped " + mapped.size() + " + stock "
          + stock.size());
    }
    for (PhysicalPage p : stock) if (mapped.contains(p)) throw new IllegalStateException(owner + ": page " + p + " both mapped and in stock");
  }

  private void checkOwner(String o) {
    if (!owner.equals(o)) throw new IllegalArgumentException("this lease serves " + owner + ", not " + o);
  }

  @Override
  public String toString() {
    return "PageLease[" + owner + ": mapped " + mapped.size() + ", stock " + stock.size() + ", max " + maxPages + "]";
  }
}
