package io.prism.cuda;

import static io.prism.cuda.CudaCheck.check;

import io.prism.runtime.memory.DeviceMemory;
import io.prism.runtime.memory.PhysicalPage;
import io.prism.runtime.memory.VirtualRange;
import io.prism.runtime.memory.VmmRules;
import java.util.HashMap;
import java.util.Map;
import org.bytedeco.cuda.cudart.CUmemAccessDesc_v1;
import org.bytedeco.cuda.cudart.CUmemAllocationProp_v1;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.SizeTPointer;

/**
 * {@link DeviceMemory} over the CUDA driver's virtual memory management API (CUDA Driver API,
 * "Virtual Memory Management"): {@code cuMemAddressReserve} / {@code cuMemAddressFree} for ranges,
 * {@code cuMemCreate} (pinned device memory on this GPU) / {@code cuMemRelease} for physical pages
 * of the allocation granularity ({@code cuMemGetAllocationGranularity}, 2 MiB on Hopper), {@code
 * cuMemMap} + {@code cuMemSetAccess} (read/write for this GPU) / {@code cuMemUnmap} for mapping.
 *
 * <p>The same rules as {@link io.prism.runtime.memory.HostDeviceMemory} are checked before the
 * driver sees a call (granularity-aligned offsets, one page per offset, one place per page, no
 * release of a mapped page, no free of a range with mapped pages), so misuse is an {@link
 * IllegalArgumentException} or {@link IllegalStateException} and a driver failure is a {@link
 * io.prism.runtime.memory.DeviceException} naming the call. Accounting ({@link #livePages}, {@link
 * #mappedPages}) is exact: it changes only after the driver call succeeded.
 *
 * <p>Threading: confined to the device's thread; every call makes the device's context current.
 * Nothing native happens in the constructor: the granularity is queried on first use.
 */
public final class CudaDeviceMemory implements DeviceMemory {
  private final CudaContext ctx;
  private long granularity;
  private long nextId = 1;
  private final Map<Long, CudaPage> live = new HashMap<>();
  private final Map<Long, CudaRange> ranges = new HashMap<>();
  private long mapped;
  private boolean closed;
  private CUmemAllocationProp_v1 prop;
  private CUmemAccessDesc_v1 access;

  CudaDeviceMemory(CudaContext ctx) {
    this.ctx = ctx;
  }

  private void init() {
    if (prop != null) return;
    ctx.makeCurrent();
    prop = new CUmemAllocationProp_v1();
    Pointer.memset(prop, 0, prop.sizeof());
    prop.type(cudart.CU_MEM_ALLOCATION_TYPE_PINNED);
    prop.location().type(cudart.CU_MEM_LOCATION_TYPE_DEVICE).id(ctx.ordinal);
    access = new CUmemAccessDesc_v1();
    Pointer.memset(access, 0, access.sizeof());
    access.location().type(cudart.CU_MEM_LOCATION_TYPE_DEVICE).id(ctx.ordinal);
    access.flags(cudart.CU_MEM_ACCESS_FLAGS_PROT_READWRITE);
    try (SizeTPointer g = new SizeTPointer(1)) {
      check("cuMemGetAllocationGranularity", cudart.cuMemGetAllocationGranularity(g, prop, cudart.CU_MEM_ALLOC_GRANULARITY_MINIMUM));
      granularity = g.get();
    }
  }

  @Override
  public long granularity() {
    open();
    init();
    return granularity;
  }

  @Override
  public VirtualRange reserve(long bytes) {
    open();
    init();
    if (bytes <= 0) throw new IllegalArgumentException("reserve size must be > 0, got " + bytes);
    long size = (bytes + granularity - 1) / granularity * granularity;
    long pages = size / granularity;
    if (pages > Integer.MAX_VALUE) throw new IllegalArgumentException("reserve of " + bytes + " bytes is too large");
    ctx.makeCurrent();
    long[] ptr = new long[1];
    check("cuMemAddressReserve(" + size + " bytes)", cudart.cuMemAddressReserve(ptr, size, granularity, 0, 0));
    CudaRange r = new CudaRange(ptr[0], size, new CudaPage[(int) pages]);
    ranges.put(r.address, r);
    return r;
  }

  @Override
  public void free(VirtualRange range) {
    CudaRange r = own(range);
    for (CudaPage p : r.slots) {
      if (p != null) throw new IllegalStateException("cuMemAddressFree: range 0x" + Long.toHexString(r.address) + " still has mapped pages");
    }
    ctx.makeCurrent();
    check("cuMemAddressFree", cudart.cuMemAddressFree(r.address, r.size));
    ranges.remove(r.address);
  }

  @Override
  public PhysicalPage create() {
    open();
    init();
    ctx.makeCurrent();
    long[] handle = new long[1];
    check("cuMemCreate(" + granularity + " bytes)", cudart.cuMemCreate(handle, granularity, prop, 0));
    CudaPage p = new CudaPage(nextId++, granularity, handle[0]);
    live.put(p.id, p);
    return p;
  }

  @Override
  public void release(PhysicalPage page) {
    CudaPage p = ownPage(page);
    if (p.mappedIn != null) throw new IllegalStateException("cuMemRelease: page " + p.id + " is still mapped");
    ctx.makeCurrent();
    check("cuMemRelease", cudart.cuMemRelease(p.handle));
    live.remove(p.id);
  }

  @Override
  public void map(VirtualRange range, long offset, PhysicalPage page) {
    CudaRange r = own(range);
    CudaPage p = ownPage(page);
    int slot = slot(r, offset);
    if (p.mappedIn != null) throw new IllegalStateException("cuMemMap: page " + p.id + " is already mapped");
    if (r.slots[slot] != null) throw new IllegalStateException("cuMemMap: offset " + offset + " of range 0x" + Long.toHexString(r.address) + " is already mapped");
    ctx.makeCurrent();
    long va = r.address + offset;
    check("cuMemMap", cudart.cuMemMap(va, granularity, 0, p.handle, 0));
    int status = cudart.cuMemSetAccess(va, granularity, access, 1);
    if (status != 0) {
      cudart.cuMemUnmap(va, granularity);
      check("cuMemSetAccess", status);
    }
    r.slots[slot] = p;
    p.mappedIn = r;
    mapped++;
  }

  @Override
  public PhysicalPage unmap(VirtualRange range, long offset) {
    CudaRange r = own(range);
    int slot = slot(r, offset);
    CudaPage p = r.slots[slot];
    if (p == null) throw new IllegalStateException("cuMemUnmap: offset " + offset + " of range 0x" + Long.toHexString(r.address) + " is not mapped");
    ctx.makeCurrent();
    check("cuMemUnmap", cudart.cuMemUnmap(r.address + offset, granularity));
    r.slots[slot] = null;
    p.mappedIn = null;
    mapped--;
    return p;
  }

  @Override
  public long livePages() {
    return live.size();
  }

  @Override
  public long mappedPages() {
    return mapped;
  }

  /** Virtual ranges reserved and not yet freed. */
  public int liveRanges() {
    return ranges.size();
  }

  /**
   * Unmaps every mapped page, releases every page and frees every range; idempotent. The first
   * driver failure is thrown after everything else was attempted.
   */
  @Override
  public void close() {
    if (closed) return;
    closed = true;
    if (prop == null) return;
    ctx.makeCurrent();
    RuntimeException first = null;
    for (CudaRange r : ranges.values()) {
      for (int s = 0; s < r.slots.length; s++) {
        if (r.slots[s] == null) continue;
        first = keep(first, "cuMemUnmap", cudart.cuMemUnmap(r.address + s * granularity, granularity));
        r.slots[s].mappedIn = null;
        r.slots[s] = null;
      }
      first = keep(first, "cuMemAddressFree", cudart.cuMemAddressFree(r.address, r.size));
    }
    for (CudaPage p : live.values()) first = keep(first, "cuMemRelease", cudart.cuMemRelease(p.handle));
    ranges.clear();
    live.clear();
    mapped = 0;
    prop.close();
    access.close();
    if (first != null) throw first;
  }

  private static RuntimeException keep(RuntimeException first, String call, int status) {
    if (status == 0 || first != null) return first;
    try {
      check(call, status);
      return null;
    } catch (RuntimeException e) {
      return e;
    }
  }

  private void open() {
    if (closed) throw new IllegalStateException("device memory is closed");
  }

  private int slot(CudaRange r, long offset) {
    return VmmRules.pageSlot(offset, r.size, granularity);
  }

  private CudaRange own(VirtualRange range) {
    open();
    if (!(range instanceof CudaRange r) || ranges.get(r.address) != r) {
      throw new IllegalArgumentException("range " + range + " does not belong to this device memory or was freed");
    }
    return r;
  }

  private CudaPage ownPage(PhysicalPage page) {
    open();
    if (!(page instanceof CudaPage p) || live.get(p.id) != p) {
      throw new IllegalArgumentException("page " + page + " does not belong to this device memory or was released");
    }
    return p;
  }

  private static final class CudaRange implements VirtualRange {
    final long address;
    final long size;
    final CudaPage[] slots;

    CudaRange(long address, long size, CudaPage[] slots) {
      this.address = address;
      this.size = size;
      this.slots = slots;
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
      return "CudaRange[0x" + Long.toHexString(address) + ", " + size + " bytes]";
    }
  }

  private static final class CudaPage implements PhysicalPage {
    final long id;
    final long size;
    final long handle;
    CudaRange mappedIn;

    CudaPage(long id, long size, long handle) {
      this.id = id;
      this.size = size;
      this.handle = handle;
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
      return "CudaPage[" + id + "]";
    }
  }
}
