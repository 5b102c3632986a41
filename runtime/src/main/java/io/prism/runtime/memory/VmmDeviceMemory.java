package io.prism.runtime.memory;

import java.util.Collection;
import java.util.HashMap;
import java.util.Map;

/**
 * The bookkeeping that every {@link DeviceMemory} under the CUDA VMM rules repeats, in one place:
 * which ranges and pages are live, which page sits at which offset of which range, how many pages
 * are mapped, and whether the memory is closed. Subclasses ({@link HostDeviceMemory}, {@code
 * io.prism.cuda.CudaDeviceMemory}) add the backing store: host arrays or driver calls.
 *
 * <pre>
 *   ranges: address -> Range [ slot 0 | slot 1 | ... ]    slot = offset / pageBytes ({@link VmmRules})
 *                                 │
 *   live:   id      -> Page  <────┘   page.mappedIn = the one range it is mapped into, or null
 * </pre>
 *
 * <p>Each operation is split so a driver call can sit between the check and the record: {@code
 * checkMap} / {@code checkUnmap} / {@code checkFree} / {@code checkRelease} change nothing, and
 * the {@code record...} methods change the books only after the backing store succeeded, so the
 * counts stay exact when a driver call fails. Misuse is an {@link IllegalArgumentException} (not
 * ours, unaligned offset) or {@link IllegalStateException} (closed, double map, unmapped offset,
 * mapped page or range in use), with the driver call's name in the message.
 *
 * <p>Nothing native and no backend class is touched here; the constructor only allocates two maps.
 * Threading: confined to the owning thread, like the subclass.
 *
 * @param <R> the subclass's range type
 * @param <P> the subclass's page type
 */
public abstract class VmmDeviceMemory<R extends VmmDeviceMemory.Range<P>, P extends VmmDeviceMemory.Page> implements DeviceMemory {
  private long nextId = 1;
  private final Map<Long, P> live = new HashMap<>();
  private final Map<Long, R> ranges = new HashMap<>();
  private long mapped;
  private boolean closed;

  protected VmmDeviceMemory() {}

  @Override
  public final long livePages() {
    return live.size();
  }

  @Override
  public final long mappedPages() {
    return mapped;
  }

  /** Virtual ranges reserved and not yet freed. */
  public final int liveRanges() {
    return ranges.size();
  }

  /** The next id of this memory, from 1 (page ids; host range addresses share the counter). */
  protected final long nextId() {
    return nextId++;
  }

  /** @throws IllegalStateException if {@link #close()} was called */
  protected final void open() {
    if (closed) throw new IllegalStateException("device memory is closed");
  }

  /** Marks this memory closed; returns {@code false} if it already was. */
  protected final boolean markClosed() {
    boolean wasOpen = !closed;
    closed = true;
    return wasOpen;
  }

  /** Live ranges, for {@code close()} to walk; a view, do not change it while walking. */
  protected final Collection<R> ranges() {
    return ranges.values();
  }

  /** Live pages, for {@code close()} to walk; a view, do not change it while walking. */
  protected final Collection<P> pages() {
    return live.values();
  }

  /** Forgets every range, page and mapping (after {@code close()} released them). */
  protected final void forgetAll() {
    for (R r : ranges.values()) {
      for (int s = 0; s < r.pages.length; s++) {
        if (r.pages[s] != null) r.pages[s].mappedIn = null;
        r.pages[s] = null;
      }
    }
    ranges.clear();
    live.clear();
    mapped = 0;
  }

  /** Records a range just reserved. */
  protected final R recordReserve(R r) {
    ranges.put(r.address, r);
    return r;
  }

  /** Records a page just created. */
  protected final P recordCreate(P p) {
    live.put(p.id, p);
    return p;
  }

  /**
   * @return {@code range} as this memory's live range
   * @throws IllegalStateException if closed
   * @throws IllegalArgumentException if it is not a live range of this memory
   */
  protected final R own(VirtualRange range) {
    open();
    R r = range == null ? null : ranges.get(range.address());
    if (r == null || r != range) {
      throw new IllegalArgumentException("range " + range + " does not belong to this device memory or was freed");
    }
    return r;
  }

  /**
   * @return {@code page} as this memory's live page
   * @throws IllegalStateException if closed
   * @throws IllegalArgumentException if it is not a live page of this memory
   */
  protected final P ownPage(PhysicalPage page) {
    open();
    P p = page == null ? null : live.get(page.id());
    if (p == null || p != page) {
      throw new IllegalArgumentException("page " + page + " does not belong to this device memory or was released");
    }
    return p;
  }

  /** @throws IllegalArgumentException if {@code offset} is not a page offset inside {@code r} ({@link VmmRules#pageSlot}) */
  protected final int slot(R r, long offset) {
    return VmmRules.pageSlot(offset, r.size, r.pageBytes);
  }

  /** {@code cuMemAddressFree}'s rule; changes nothing. @throws IllegalStateException if a page is still mapped in {@code r} */
  protected final void checkFree(R r) {
    for (P p : r.pages) {
      if (p != null) throw new IllegalStateException("cuMemAddressFree: range " + r.addressText() + " still has mapped pages");
    }
  }

  /** Forgets a range just freed. */
  protected final void recordFree(R r) {
    ranges.remove(r.address);
  }

  /** {@code cuMemRelease}'s rule; changes nothing. @throws IllegalStateException if {@code p} is mapped */
  protected final void checkRelease(P p) {
    if (p.mappedIn != null) throw new IllegalStateException("cuMemRelease: page " + p.id + " is still mapped");
  }

  /** Forgets a page just released. */
  protected final void recordRelease(P p) {
    live.remove(p.id);
  }

  /**
   * {@code cuMemMap}'s rules; changes nothing.
   *
   * @return the slot of {@code offset}
   * @throws IllegalArgumentException if the offset is unaligned or outside the range
   * @throws IllegalStateException if {@code p} is mapped somewhere or the offset holds a page
   */
  protected final int checkMap(R r, long offset, P p) {
    int slot = slot(r, offset);
    if (p.mappedIn != null) throw new IllegalStateException("cuMemMap: page " + p.id + " is already mapped");
    if (r.pages[slot] != null) throw new IllegalStateException("cuMemMap: offset " + offset + " of range " + r.addressText() + " is already mapped");
    return slot;
  }

  /** Records {@code p} mapped at {@code slot} of {@code r} (after {@link #checkMap}). */
  protected final void recordMap(R r, int slot, P p) {
    r.pages[slot] = p;
    p.mappedIn = r;
    mapped++;
  }

  /**
   * {@code cuMemUnmap}'s rules; changes nothing.
   *
   * @return the slot of {@code offset}, which holds a page
   * @throws IllegalArgumentException if the offset is unaligned or outside the range
   * @throws IllegalStateException if nothing is mapped there
   */
  protected final int checkUnmap(R r, long offset) {
    int slot = slot(r, offset);
    if (r.pages[slot] == null) throw new IllegalStateException("cuMemUnmap: offset " + offset + " of range " + r.addressText() + " is not mapped");
    return slot;
  }

  /** Records the page at {@code slot} of {@code r} unmapped (after {@link #checkUnmap}); returns it. */
  protected final P recordUnmap(R r, int slot) {
    P p = r.pages[slot];
    r.pages[slot] = null;
    p.mappedIn = null;
    mapped--;
    return p;
  }

  /**
   * A reserved range of {@code pages.length} pages of {@code pageBytes} each; slot {@code i} holds
   * the page mapped at offset {@code i * pageBytes}, or null.
   *
   * @param <P> the page type
   */
  protected abstract static class Range<P extends Page> implements VirtualRange {
    // package-private, not private: the base class reaches them through its type variables
    final long address;
    final long size;
    final long pageBytes;
    final P[] pages;

    /**
     * @param address device virtual address (an opaque id on the host)
     * @param pageBytes the memory's granularity
     * @param pages one null slot per page, {@code [sizeBytes / pageBytes]}
     */
    protected Range(long address, long pageBytes, P[] pages) {
      this.address = address;
      this.pageBytes = pageBytes;
      this.size = pageBytes * pages.length;
      this.pages = pages;
    }

    @Override
    public final long address() {
      return address;
    }

    @Override
    public final long sizeBytes() {
      return size;
    }

    /** Page slots, {@code sizeBytes / pageBytes}. */
    public final int numSlots() {
      return pages.length;
    }

    /** The page mapped at {@code slot}, or null. */
    public final P pageAt(int slot) {
      return pages[slot];
    }

    /** The address as error messages show it (decimal here; CUDA shows hex). */
    protected String addressText() {
      return Long.toString(address);
    }
  }

  /** A physical page of one granularity; mapped into at most one range at a time. */
  protected abstract static class Page implements PhysicalPage {
    final long id;
    final long size;
    Range<?> mappedIn;

    /**
     * @param id from {@link VmmDeviceMemory#nextId()}
     * @param sizeBytes the memory's granularity
     */
    protected Page(long id, long sizeBytes) {
      this.id = id;
      this.size = sizeBytes;
    }

    @Override
    public final long id() {
      return id;
    }

    @Override
    public final long sizeBytes() {
      return size;
    }

    /** Whether the page is mapped into a range now. */
    public final boolean isMapped() {
      return mappedIn != null;
    }
  }
}
