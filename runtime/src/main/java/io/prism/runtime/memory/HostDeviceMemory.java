package io.prism.runtime.memory;

import java.util.HashMap;
import java.util.Map;

/**
 * {@link DeviceMemory} on the host heap, with the CUDA VMM driver's rules enforced: sizes and
 * offsets must be multiples of the granularity, a page maps into one place at a time, an offset
 * holds one page at a time, a mapped page cannot be released, a range with mapped pages cannot be
 * freed. A physical page is a {@code float[granularity / 4]}; the forward pass reads it through
 * {@link #pageArray(VirtualRange, long)}.
 *
 * <p>Threading: confined to the owning thread, like the driver context it stands for; reads of
 * already-mapped pages from worker threads of the same step are safe (no structural change happens
 * during a step).
 */
public final class HostDeviceMemory implements DeviceMemory {
  private final long granularity;
  private long nextId = 1;
  private final Map<Long, HostPage> live = new HashMap<>();
  private final Map<Long, HostRange> ranges = new HashMap<>();
  private long mapped;
  private boolean closed;

  /**
   * @param granularityBytes page size in bytes: a positive multiple of 4 KiB (the host default is
   *     64 KiB so small models use many pages; CUDA uses 2 MiB)
   * @throws IllegalArgumentException if the size is not a positive multiple of 4096
   */
  public HostDeviceMemory(long granularityBytes) {
    if (granularityBytes <= 0 || granularityBytes % 4096 != 0 || granularityBytes / 4 > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("host page size must be a positive multiple of 4096 bytes, got " + granularityBytes);
    }
    this.granularity = granularityBytes;
  }

  @Override
  public long granularity() {
    return granularity;
  }

  @Override
  public VirtualRange reserve(long bytes) {
    open();
    if (bytes <= 0) throw new IllegalArgumentException("reserve size must be > 0, got " + bytes);
    long pages = (bytes + granularity - 1) / granularity;
    if (pages > Integer.MAX_VALUE) throw new IllegalArgumentException("reserve of " + bytes + " bytes is too large");
    HostRange r = new HostRange(nextId++, pages * granularity, new float[(int) pages][]);
    ranges.put(r.address, r);
    return r;
  }

  @Override
  public void free(VirtualRange range) {
    HostRange r = own(range);
    for (float[] p : r.slots) {
      if (p != null) throw new IllegalStateException("cuMemAddressFree: range " + r.address + " still has mapped pages");
    }
    ranges.remove(r.address);
  }

  @Override
  public PhysicalPage create() {
    open();
    HostPage p = new HostPage(nextId++, granularity, new float[(int) (granularity / Float.BYTES)]);
    live.put(p.id, p);
    return p;
  }

  @Override
  public void release(PhysicalPage page) {
    HostPage p = ownPage(page);
    if (p.mappedIn != null) throw new IllegalStateException("cuMemRelease: page " + p.id + " is still mapped");
    live.remove(p.id);
  }

  @Override
  public void map(VirtualRange range, long offset, PhysicalPage page) {
    HostRange r = own(range);
    HostPage p = ownPage(page);
    int slot = slot(r, offset);
    if (p.mappedIn != null) throw new IllegalStateException("cuMemMap: page " + p.id + " is already mapped");
    if (r.slots[slot] != null) throw new IllegalStateException("cuMemMap: offset " + offset + " of range " + r.address + " is already mapped");
    r.slots[slot] = p.data;
    r.pages[slot] = p;
    p.mappedIn = r;
    mapped++;
  }

  @Override
  public PhysicalPage unmap(VirtualRange range, long offset) {
    HostRange r = own(range);
    int slot = slot(r, offset);
    HostPage p = r.pages[slot];
    if (p == null) throw new IllegalStateException("cuMemUnmap: offset " + offset + " of range " + r.address + " is not mapped");
    r.slots[slot] = null;
    r.pages[slot] = null;
    p.mappedIn = null;
    mapped--;
    return p;
  }

  /**
   * The floats backing the page mapped at {@code offset} of {@code range} (offset a multiple of the
   * granularity).
   *
   * @throws IllegalStateException if nothing is mapped there (the host's stand-in for a device fault)
   */
  public float[] pageArray(VirtualRange range, long offset) {
    HostRange r = (HostRange) range;
    float[] a = r.slots[slot(r, offset)];
    if (a == null) throw new IllegalStateException("access to unmapped offset " + offset + " of range " + r.address);
    return a;
  }

  /** The page arrays of a range indexed by page number (null where unmapped); read-only view for kernels. */
  public float[][] pageArrays(VirtualRange range) {
    return ((HostRange) range).slots;
  }

  @Override
  public long livePages() {
    return live.size();
  }

  @Override
  public long mappedPages() {
    return mapped;
  }

  @Override
  public void close() {
    closed = true;
    ranges.clear();
    live.clear();
    mapped = 0;
  }

  private void open() {
    if (closed) throw new IllegalStateException("device memory is closed");
  }

  private int slot(HostRange r, long offset) {
    return VmmRules.pageSlot(offset, r.size, granularity);
  }

  private HostRange own(VirtualRange range) {
    open();
    if (!(range instanceof HostRange r) || ranges.get(r.address) != r) {
      throw new IllegalArgumentException("range " + range + " is not a live range of this device memory");
    }
    return r;
  }

  private HostPage ownPage(PhysicalPage page) {
    open();
    if (!(page instanceof HostPage p) || live.get(p.id) != p) {
      throw new IllegalArgumentException("page " + page + " is not a live page of this device memory");
    }
    return p;
  }

  private static final class HostRange implements VirtualRange {
    final long address;
    final long size;
    final float[][] slots;
    final HostPage[] pages;

    HostRange(long address, long size, float[][] slots) {
      this.address = address;
      this.size = size;
      this.slots = slots;
      this.pages = new HostPage[slots.length];
    }

    @Override
    public long address() {
      return address;
    }

    @Override
    public long sizeBytes() {
      return size;
    }

    @Override
    public String toString() {
      return "HostRange[" + address + ", " + size + " B]";
    }
  }

  private static final class HostPage implements PhysicalPage {
    final long id;
    final long size;
    final float[] data;
    HostRange mappedIn;

    HostPage(long id, long size, float[] data) {
      this.id = id;
      this.size = size;
      this.data = data;
    }

    @Override
    public long id() {
      return id;
    }

    @Override
    public long sizeBytes() {
      return size;
    }

    @Override
    public String toString() {
      return "HostPage[" + id + "]";
    }
  }
}
