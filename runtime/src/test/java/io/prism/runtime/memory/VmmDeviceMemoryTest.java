package io.prism.runtime.memory;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * The VMM bookkeeping shared by the host and CUDA device memories: through {@link HostDeviceMemory},
 * and through a fake driver that fails on demand, to show the books change only after the driver
 * call succeeded.
 */
class VmmDeviceMemoryTest {
  private static final long PAGE = 4096;

  @Test
  void countsLivePagesMappedPagesAndRangesThroughMapAndUnmap() {
    HostDeviceMemory mem = new HostDeviceMemory(PAGE);
    VirtualRange r = mem.reserve(3 * PAGE - 1);
    PhysicalPage a = mem.create();
    PhysicalPage b = mem.create();

    assertEquals(3 * PAGE, r.sizeBytes());
    assertEquals(1, r.address()); // ranges and pages share one id counter on the host
    assertEquals(2, a.id());
    assertEquals(3, b.id());
    mem.map(r, 0, a);
    mem.map(r, 2 * PAGE, b);

    assertEquals(2, mem.livePages());
    assertEquals(2, mem.mappedPages());
    assertEquals(1, mem.liveRanges());
    assertArrayEquals(new float[][] {mem.pageArray(r, 0), null, mem.pageArray(r, 2 * PAGE)}, mem.pageArrays(r));
    assertSame(b, mem.unmap(r, 2 * PAGE));
    assertSame(a, mem.unmap(r, 0));
    assertEquals(0, mem.mappedPages());
    mem.release(a);
    mem.free(r);
    assertEquals(1, mem.livePages());
    assertEquals(0, mem.liveRanges());
  }

  @Test
  void rejectsTheMisuseTheDriverWouldRejectBeforeChangingAnything() {
    HostDeviceMemory mem = new HostDeviceMemory(PAGE);
    VirtualRange r = mem.reserve(2 * PAGE);
    PhysicalPage a = mem.create();
    PhysicalPage b = mem.create();
    mem.map(r, 0, a);

    assertThrows(IllegalStateException.class, () -> mem.map(r, PAGE, a), "page already mapped");
    assertThrows(IllegalStateException.class, () -> mem.map(r, 0, b), "offset already mapped");
    assertThrows(IllegalArgumentException.class, () -> mem.map(r, 1, b), "unaligned offset");
    assertThrows(IllegalArgumentException.class, () -> mem.map(r, 2 * PAGE, b), "offset past the range");
    assertThrows(IllegalStateException.class, () -> mem.unmap(r, PAGE), "nothing mapped there");
    assertThrows(IllegalStateException.class, () -> mem.release(a), "mapped page");
    IllegalStateException inUse = assertThrows(IllegalStateException.class, () -> mem.free(r));
    assertEquals("cuMemAddressFree: range 1 still has mapped pages", inUse.getMessage());
    HostDeviceMemory other = new HostDeviceMemory(PAGE);
    assertThrows(IllegalArgumentException.class, () -> mem.map(other.reserve(PAGE), 0, b), "foreign range");
    assertThrows(IllegalArgumentException.class, () -> mem.map(r, PAGE, other.create()), "foreign page");
    assertThrows(IllegalArgumentException.class, () -> mem.release(null), "null page");

    assertEquals(2, mem.livePages());
    assertEquals(1, mem.mappedPages());
    assertEquals(1, mem.liveRanges());
  }

  @Test
  void closeForgetsEverythingAndLaterCallsFail() {
    HostDeviceMemory mem = new HostDeviceMemory(PAGE);
    VirtualRange r = mem.reserve(PAGE);
    PhysicalPage a = mem.create();
    mem.map(r, 0, a);

    mem.close();
    mem.close();

    assertEquals(0, mem.livePages());
    assertEquals(0, mem.mappedPages());
    assertEquals(0, mem.liveRanges());
    assertThrows(IllegalStateException.class, mem::create);
    assertThrows(IllegalStateException.class, () -> mem.unmap(r, 0));
  }

  @Test
  void aFailedDriverCallLeavesTheBooksUnchanged() {
    FakeDriverMemory mem = new FakeDriverMemory();
    VirtualRange r = mem.reserve(2 * PAGE);
    PhysicalPage a = mem.create();

    mem.failNext = true;
    assertThrows(DeviceException.class, () -> mem.map(r, 0, a));
    assertEquals(0, mem.mappedPages());
    mem.map(r, 0, a); // the slot and the page are still free

    mem.failNext = true;
    assertThrows(DeviceException.class, () -> mem.unmap(r, 0));
    assertEquals(1, mem.mappedPages());
    assertSame(a, mem.unmap(r, 0));

    mem.failNext = true;
    assertThrows(DeviceException.class, () -> mem.release(a));
    assertEquals(1, mem.livePages());
    mem.release(a);
    assertEquals(0, mem.livePages());

    mem.failNext = true;
    assertThrows(DeviceException.class, () -> mem.free(r));
    assertEquals(1, mem.liveRanges());
    mem.free(r);
    assertEquals(0, mem.liveRanges());
    assertTrue(mem.calls > 0);
  }

  @Test
  void rangeSlotsFollowMapAndUnmap() {
    FakeDriverMemory mem = new FakeDriverMemory();
    FakeDriverMemory.FakeRange r = (FakeDriverMemory.FakeRange) mem.reserve(3 * PAGE);
    PhysicalPage a = mem.create();
    mem.map(r, PAGE, a);

    assertEquals(3, r.numSlots());
    assertNull(r.pageAt(0));
    assertSame(a, r.pageAt(1));
    assertTrue(((FakeDriverMemory.FakePage) a).isMapped());
    mem.unmap(r, PAGE);
    assertNull(r.pageAt(1));
  }

  /** A device memory whose "driver" is a counter that fails the next call when asked. */
  private static final class FakeDriverMemory extends VmmDeviceMemory<FakeDriverMemory.FakeRange, FakeDriverMemory.FakePage> {
    boolean failNext;
    int calls;

    private void driver(String call) {
      calls++;
      if (failNext) {
        failNext = false;
        throw new DeviceException(call, 2, "CUDA_ERROR_OUT_OF_MEMORY (fake)");
      }
    }

    @Override
    public long granularity() {
      return PAGE;
    }

    @Override
    public VirtualRange reserve(long bytes) {
      open();
      driver("cuMemAddressReserve");
      return recordReserve(new FakeRange(0x7f00_0000_0000L + nextId() * (1L << 30), PAGE, new FakePage[(int) ((bytes + PAGE - 1) / PAGE)]));
    }

    @Override
    public void free(VirtualRange range) {
      FakeRange r = own(range);
      checkFree(r);
      driver("cuMemAddressFree");
      recordFree(r);
    }

    @Override
    public PhysicalPage create() {
      open();
      driver("cuMemCreate");
      return recordCreate(new FakePage(nextId(), PAGE));
    }

    @Override
    public void release(PhysicalPage page) {
      FakePage p = ownPage(page);
      checkRelease(p);
      driver("cuMemRelease");
      recordRelease(p);
    }

    @Override
    public void map(VirtualRange range, long offset, PhysicalPage page) {
      FakeRange r = own(range);
      FakePage p = ownPage(page);
      int slot = checkMap(r, offset, p);
      driver("cuMemMap");
      recordMap(r, slot, p);
    }

    @Override
    public PhysicalPage unmap(VirtualRange range, long offset) {
      FakeRange r = own(range);
      int slot = checkUnmap(r, offset);
      driver("cuMemUnmap");
      return recordUnmap(r, slot);
    }

    @Override
    public void close() {
      if (markClosed()) forgetAll();
    }

    static final class FakeRange extends VmmDeviceMemory.Range<FakePage> {
      FakeRange(long address, long pageBytes, FakePage[] slots) {
        super(address, pageBytes, slots);
      }
    }

    static final class FakePage extends VmmDeviceMemory.Page {
      FakePage(long id, long sizeBytes) {
        super(id, sizeBytes);
      }
    }
  }
}
