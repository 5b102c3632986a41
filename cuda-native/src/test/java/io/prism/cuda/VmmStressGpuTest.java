package io.prism.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.engine.ForwardBatch;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.model.LoadedModel;
import java.util.List;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.SizeTPointer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Two model instances on one GPU sharing one free list of physical pages: A generates greedily
 * with its blocks scattered over many page ids while B's page ids are mapped, written (a prefill)
 * and unmapped between every step of A. A's tokens must equal the oracle, the accounting must be
 * exact after every step, and every page and range must be gone at the end (driver free memory back
 * to where it started).
 */
@Tag("gpu")
class VmmStressGpuTest {
  @Test
  void generationIsUnchangedWhileTheNeighboursPagesChurn() {
    LoadedModel model = TestModels.stories260k();
    int[] oracle = TestModels.ints(TestModels.models().resolve("oracle").resolve("stories260K_t0_n200_token_ids.txt"));
    try (CudaDevice dev = CudaDevices.open(1, 16L << 30, Precision.FP32, 64).get(0)) {
      CudaDeviceMemory mem = (CudaDeviceMemory) dev.memory();
      long free0 = freeBytes();
      KvPages pool = new KvPages(mem);
      KvCache kvA = KvCache.reserve(mem, model.config(), 16, 4, 16 * 16 * 1024);
      KvCache kvB = KvCache.reserve(mem, model.config(), 16, 4, 16 * 16 * 1024);
      int[] churn = {0};
      try (CudaForwardBackend a = dev.load(model, kvA); CudaForwardBackend b = dev.load(model, kvB)) {
        int pageIdsA = 13;
        int[] tableA = Greedy.scattered(kvA, 13, pageIdsA);
        int[] got = Greedy.generate(a, pool, tableA, new int[] {1}, oracle.length, step -> {
          // B: map 3 page ids, write them with a short prefill, unmap them again
          int base = (step * 3) % (kvB.maxPages() - 3);
          int[] tb = new int[3];
          for (int i = 0; i < 3; i++) {
            pool.ensure(kvB, base + i);
            tb[i] = (base + i) * kvB.blocksPerPage();
          }
          int[] prompt = new int[40];
          for (int i = 0; i < prompt.length; i++) prompt[i] = 1 + (step + i) % 500;
          b.forward(new ForwardBatch(List.of(new ForwardBatch.Entry(prompt, 0, tb, false))), new float[1][]);
          for (int i = 0; i < 3; i++) pool.unmap(kvB, base + i);
          churn[0] += 3;
          long held = (long) (kvA.mappedPageIds() + kvB.mappedPageIds()) * kvA.physicalPagesPerPageId();
          assertEquals(held, mem.mappedPages(), "mapped pages = pages held by the models");
          assertEquals(held + pool.free.size(), mem.livePages(), "live pages = held + free list");
        });
        System.out.printf("VMM stress: %d tokens, %d page-id maps, %d unmaps, %d pages created, %d page ids of B churned%n",
            got.length, pool.maps, pool.unmaps, pool.creates, churn[0]);
        assertArrayEquals(oracle, got);
        pool.unmapAll(kvA);
        pool.unmapAll(kvB);
      }
      kvA.close();
      kvB.close();
      pool.releaseAll();
      assertEquals(0, mem.livePages());
      assertEquals(0, mem.mappedPages());
      assertEquals(0, mem.liveRanges());
      long free1 = freeBytes();
      System.out.printf("VMM stress: device free memory %d MiB before, %d MiB after%n", free0 >> 20, free1 >> 20);
      // the churn held 160 pages (320 MiB); libraries may keep a few MiB they allocated lazily
      assertTrue(Math.abs(free0 - free1) < (32L << 20), "device free memory back to where it started (within 32 MiB)");
    }
  }

  private static long freeBytes() {
    try (SizeTPointer free = new SizeTPointer(1); SizeTPointer total = new SizeTPointer(1)) {
      CudaCheck.check("cuMemGetInfo", cudart.cuMemGetInfo(free, total));
      return free.get();
    }
  }
}
