package io.prism.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.prism.runtime.memory.PhysicalPage;
import io.prism.runtime.memory.VirtualRange;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.BytePointer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The VMM driver layer on a real GPU: granularity, rules, accounting, and that data follows pages. */
@Tag("gpu")
class CudaDeviceMemoryGpuTest {
  @Test
  void granularityIsTwoMebibytesAndAccountingIsExact() {
    try (CudaDevice dev = CudaDevices.open(1, 4L << 30, Precision.BF16, 64).get(0)) {
      CudaDeviceMemory mem = (CudaDeviceMemory) dev.memory();
      long g = mem.granularity();
      assertEquals(2L << 20, g);
      VirtualRange r = mem.reserve(3 * g + 1);
      assertEquals(4 * g, r.sizeBytes());
      List<PhysicalPage> pages = new ArrayList<>();
      for (int i = 0; i < 3; i++) pages.add(mem.create());
      assertEquals(3, mem.livePages());
      mem.map(r, 0, pages.get(0));
      mem.map(r, 2 * g, pages.get(1));
      assertEquals(2, mem.mappedPages());
      assertThrows(IllegalStateException.class, () -> mem.map(r, 0, pages.get(2)), "offset already mapped");
      assertThrows(IllegalStateException.class, () -> mem.map(r, g, pages.get(0)), "page already mapped");
      assertThrows(IllegalArgumentException.class, () -> mem.map(r, 100, pages.get(2)), "unaligned");
      assertThrows(IllegalStateException.class, () -> mem.release(pages.get(0)), "mapped page");
      assertThrows(IllegalStateException.class, () -> mem.free(r), "range with mapped pages");
      assertEquals(pages.get(1), mem.unmap(r, 2 * g));
      assertThrows(IllegalStateException.class, () -> mem.unmap(r, 2 * g));
      mem.unmap(r, 0);
      assertEquals(0, mem.mappedPages());
      for (PhysicalPage p : pages) mem.release(p);
      mem.free(r);
      assertEquals(0, mem.livePages());
      assertEquals(0, mem.liveRanges());
    }
  }

  @Test
  void bytesWrittenThroughOneMappingAreReadThroughTheNext() {
    try (CudaDevice dev = CudaDevices.open(1, 4L << 30, Precision.BF16, 64).get(0)) {
      CudaDeviceMemory mem = (CudaDeviceMemory) dev.memory();
      long g = mem.granularity();
      VirtualRange a = mem.reserve(2 * g), b = mem.reserve(4 * g);
      PhysicalPage p = mem.create();
      mem.map(a, g, p);
      byte[] data = new byte[4096];
      new java.util.Random(7).nextBytes(data);
      try (BytePointer host = new BytePointer(data.length)) {
        host.put(data);
        CudaCheck.check("cuMemcpyHtoD", cudart.cuMemcpyHtoD(a.address() + g + 12345, host, data.length));
        mem.unmap(a, g);
        mem.map(b, 3 * g, p);
        host.fill(0);
        CudaCheck.check("cuMemcpyDtoH", cudart.cuMemcpyDtoH(host, b.address() + 3 * g + 12345, data.length));
        byte[] back = new byte[data.length];
        host.get(back);
        assertArrayEquals(data, back);
      }
      mem.unmap(b, 3 * g);
      mem.release(p);
      mem.free(a);
      mem.free(b);
    }
  }

  @Test
  void closeReleasesEverythingStillHeld() {
    CudaDevice dev = CudaDevices.open(1, 4L << 30, Precision.BF16, 64).get(0);
    CudaDeviceMemory mem = (CudaDeviceMemory) dev.memory();
    VirtualRange r = mem.reserve(8 * mem.granularity());
    for (int i = 0; i < 8; i++) mem.map(r, i * mem.granularity(), mem.create());
    mem.create();
    dev.close();
    assertEquals(0, mem.livePages());
    assertEquals(0, mem.mappedPages());
    assertEquals(0, mem.liveRanges());
  }
}
