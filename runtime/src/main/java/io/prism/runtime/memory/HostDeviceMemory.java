package io.prism.runtime.memory;

/**
 * {@link DeviceMemory} on the host heap, with the CUDA VMM driver's rules enforced: sizes and
 * offsets must be multiples of the granularity, a page maps into one place at a time, an offset
 * holds one page at a time, a mapped page cannot be released, a range with mapped pages cannot be
 * freed. A physical page is a {@code float[granularity / 4]}; the forward pass reads it through
 * {@link #pageArray(VirtualRange, long)}. The rules and the bookkeeping are {@link VmmDeviceMemory}'s.
 *
 * <p>Threading: confined to the owning thread, like the driver context it stands for; reads of
 * already-mapped pages from worker threads of the same step are safe (no structural change happens
 * during a step).
 */
public final class HostDeviceMemory extends VmmDeviceMemory<HostDeviceMemory.HostRange, HostDeviceMemory.HostPage> {
  private final long granularity;

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
    return recordReserve(new HostRange(nextId(), granularity, (int) pages));
  }

  @Override
  public void free(VirtualRange range) {
    HostRange r = own(range);
    checkFree(r);
    recordFree(r);
  }

  @Override
  public PhysicalPage create() {
    open();
    return recordCreate(new HostPage(nextId(), granularity, new float[(int) (granularity / Float.BYTES)]));
  }

  @Override
  public void release(PhysicalPage page) {
    HostPage p = ownPage(page);
    checkRelease(p);
    recordRelease(p);
  }

  @Override
  public void map(VirtualRange range, long offset, PhysicalPage page) {
    HostRange r = own(range);
    HostPage p = ownPage(page);
    int slot = checkMap(r, offset, p);
    r.slots[slot] = p.data;
    recordMap(r, slot, p);
  }

  @Override
  public PhysicalPage unmap(VirtualRange range, long offset) {
    HostRange r = own(range);
    int slot = checkUnmap(r, offset);
    r.slots[slot] = null;
    return recordUnmap(r, slot);
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
    if (a == null) throw new IllegalStateException("access to unmapped offset " + offset + " of range " + r.address());
    return a;
  }

  /** The page arrays of a range indexed by page number (null where unmapped); read-only view for kernels. */
  public float[][] pageArrays(VirtualRange range) {
    return ((HostRange) range).slots;
  }

  @Override
  public void close() {
    markClosed();
    forgetAll();
  }

  static final class HostRange extends VmmDeviceMemory.Range<HostPage> {
    /** The mapped pages' floats by slot (null where unmapped), kept beside the pages for the kernels. */
    final float[][] slots;

    HostRange(long address, long pageBytes, int numPages) {
      super(address, pageBytes, new HostPage[numPages]);
      this.slots = new float[numPages][];
    }

    @Override
    public String toString() {
      return "HostRange[" + address() + ", " + sizeBytes() + " B]";
    }
  }

  static final class HostPage extends VmmDeviceMemory.Page {
    final float[] data;

    HostPage(long id, long size, float[] data) {
      super(id, size);
      this.data = data;
    }

    @Override
    public String toString() {
      return "HostPage[" + id() + "]";
    }
  }
}
