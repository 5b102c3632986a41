package io.prism.cuda;

import static io.prism.cuda.CudaCheck.check;

import io.prism.runtime.memory.DeviceMemory;
import io.prism.runtime.memory.PhysicalPage;
import io.prism.runtime.memory.VirtualRange;
import io.prism.runtime.memory.VmmDeviceMemory;
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
 * #mappedPages}) is exact: it changes only after the driver call succeeded. The rules and the
 * bookkeeping are {@link VmmDeviceMemory}'s; this class adds the driver calls.
 *
 * <p>Threading: confined to the device's thread; every call makes the device's context current.
 * Nothing native happens in the constructor: the granularity is queried on first use.
 */
public final class CudaDeviceMemory extends VmmDeviceMemory<CudaDeviceMemory.CudaRange, CudaDeviceMemory.CudaPage> {
  private final CudaContext ctx;
  private long granularity;
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
    return recordReserve(new CudaRange(ptr[0], granularity, new CudaPage[(int) pages]));
  }

  @Override
  public void free(VirtualRange range) {
    CudaRange r = own(range);
    checkFree(r);
    ctx.makeCurrent();
    check("cuMemAddressFree", cudart.cuMemAddressFree(r.address(), r.sizeBytes()));
    recordFree(r);
  }

  @Override
  public PhysicalPage create() {
    open();
    init();
    ctx.makeCurrent();
    long[] handle = new long[1];
    check("cuMemCreate(" + granularity + " bytes)", cudart.cuMemCreate(handle, granularity, prop, 0));
    return recordCreate(new CudaPage(nextId(), granularity, handle[0]));
  }

  @Override
  public void release(PhysicalPage page) {
    CudaPage p = ownPage(page);
    checkRelease(p);
    ctx.makeCurrent();
    check("cuMemRelease", cudart.cuMemRelease(p.handle));
    recordRelease(p);
  }

  @Override
  public void map(VirtualRange range, long offset, PhysicalPage page) {
    CudaRange r = own(range);
    CudaPage p = ownPage(page);
    int slot = checkMap(r, offset, p);
    ctx.makeCurrent();
    long va = r.address() + offset;
    check("cuMemMap", cudart.cuMemMap(va, granularity, 0, p.handle, 0));
    int status = cudart.cuMemSetAccess(va, granularity, access, 1);
    if (status != 0) {
      cudart.cuMemUnmap(va, granularity);
      check("cuMemSetAccess", status);
    }
    recordMap(r, slot, p);
  }

  @Override
  public PhysicalPage unmap(VirtualRange range, long offset) {
    CudaRange r = own(range);
    int slot = checkUnmap(r, offset);
    ctx.makeCurrent();
    check("cuMemUnmap", cudart.cuMemUnmap(r.address() + offset, granularity));
    return recordUnmap(r, slot);
  }

  /**
   * Unmaps every mapped page, releases every page and frees every range; idempotent. The first
   * driver failure is thrown after everything else was attempted.
   */
  @Override
  public void close() {
    if (!markClosed()) return;
    if (prop == null) return;
    ctx.makeCurrent();
    RuntimeException first = null;
    for (CudaRange r : ranges()) {
      for (int s = 0; s < r.numSlots(); s++) {
        if (r.pageAt(s) == null) continue;
        first = keep(first, "cuMemUnmap", cudart.cuMemUnmap(r.address() + s * granularity, granularity));
      }
      first = keep(first, "cuMemAddressFree", cudart.cuMemAddressFree(r.address(), r.sizeBytes()));
    }
    for (CudaPage p : pages()) first = keep(first, "cuMemRelease", cudart.cuMemRelease(p.handle));
    forgetAll();
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

  static final class CudaRange extends VmmDeviceMemory.Range<CudaPage> {
    CudaRange(long address, long pageBytes, CudaPage[] slots) {
      super(address, pageBytes, slots);
    }

    @Override
    protected String addressText() {
      return "0x" + Long.toHexString(address());
    }

    @Override
    public String toString() {
      return "CudaRange[0x" + Long.toHexString(address()) + ", " + sizeBytes() + " bytes]";
    }
  }

  static final class CudaPage extends VmmDeviceMemory.Page {
    final long handle;

    CudaPage(long id, long size, long handle) {
      super(id, size);
      this.handle = handle;
    }

    @Override
    public String toString() {
      return "CudaPage[" + id() + "]";
    }
  }
}
