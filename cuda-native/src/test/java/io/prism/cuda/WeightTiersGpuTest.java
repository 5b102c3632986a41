package io.prism.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.memory.KvCache;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.model.ModelLoader;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The disk tier on the GPU: weights evicted without a host copy (or whose pinned copy was dropped)
 * come back through the device's load path, the file's weights uploaded again or {@code random:}
 * weights generated again from the same seed, and generate the same tokens as before.
 */
@Tag("gpu")
class WeightTiersGpuTest {
  static CudaDevice fp32;

  @BeforeAll
  static void open() {
    fp32 = CudaDevices.open(1, 8L << 30, Precision.FP32, 64).get(0);
  }

  @AfterAll
  static void close() {
    if (fp32 != null) fp32.close();
  }

  @Test
  void fileWeightsEvictedWithoutAHostCopyAreUploadedAgainFromTheReloadedModel() {
    LoadedModel model = TestModels.stories260k();
    roundTrip(model, TestModels.stories260k(), false);
  }

  @Test
  void aDroppedPinnedCopyOfRandomWeightsIsRegeneratedFromTheSeed() {
    LoadedModel model = ModelLoader.loadConfigOnly("random:stories15M", null);
    roundTrip(model, ModelLoader.loadConfigOnly("random:stories15M", null), true);
  }

  private static void roundTrip(LoadedModel model, LoadedModel reloaded, boolean keepThenDrop) {
    try (KvCache kv = KvCache.reserve(fp32.memory(), model.config(), 16, 4, 512);
        CudaForwardBackend be = fp32.load(model, kv)) {
      KvPages pages = new KvPages(fp32.memory());
      int[] table = Greedy.contiguous(kv.maxBlocks());
      int[] before = Greedy.generate(be, pages, table, new int[] {1}, 24, null);
      be.evictWeights(keepThenDrop);
      assertEquals(keepThenDrop ? be.weightBytes() : 0, be.hostCopyBytes());
      if (keepThenDrop) be.dropHostCopy();
      assertEquals(0, be.hostCopyBytes());
      assertTrue(be.needsReload());
      assertFalse(be.weightsResident());
      assertThrows(IllegalStateException.class, be::activateWeights, "no host copy to activate from");
      be.activateWeights(reloaded);
      assertTrue(be.weightsResident());
      assertFalse(be.needsReload());
      int[] after = Greedy.generate(be, pages, table, new int[] {1}, 24, null);
      pages.unmapAll(kv);
      pages.releaseAll();
      assertArrayEquals(before, after, "the same weights came back");
    }
  }
}
