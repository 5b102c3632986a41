package io.prism.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.memory.KvCache;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.model.ModelLoader;
import java.time.Duration;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.BytePointer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Eviction into and activation from the node's pinned host pool on the GPU: the pool is pinned
 * ahead by its fill threads, an eviction takes {@code ceil(bytes / chunk)} of its chunks (none
 * pinned on the evicting thread), two evict / activate rounds give the weights back bit for bit and
 * the same tokens, and every chunk is back in the pool once the copy is dropped or the backend
 * closes. The chunk size is deliberately not a divisor of the weight bytes (a partial last chunk)
 * nor a power of two (chunk boundaries fall inside tensors).
 */
@Tag("gpu")
class PinnedHostPoolGpuTest {
  static final long CHUNK = (3L << 20) + 4096;
  static final String MODEL = "random:stories15M";
  static CudaDevice bf16;

  @BeforeAll
  static void open() {
    LoadedModel m = ModelLoader.loadConfigOnly(MODEL, null);
    long bytes = DeviceWeights.bytesFor(m.config(), Precision.BF16);
    // room for two copies; one fill thread more than the default to exercise concurrent pinning
    PinnedPoolSettings pool = new PinnedPoolSettings(2 * bytes + 2 * CHUNK, CHUNK, Duration.ofMinutes(2), 3);
    bf16 = CudaDevices.open(1, 8L << 30, Precision.BF16, 64, pool).get(0);
  }

  @AfterAll
  static void close() {
    if (bf16 != null) bf16.close();
  }

  @Test
  void evictingAndActivatingTwiceGivesBitIdenticalWeightsAndReturnsEveryChunk() throws Exception {
    PinnedChunkPool pool = bf16.hostPool().chunks();
    assertTrue(pool.awaitFilled(Duration.ofMinutes(2)), "the pool is pinned ahead");
    PinnedChunkPool.Usage start = pool.usage();
    assertNull(start.fillError());
    assertEquals(start.targetChunks(), start.allocatedChunks());
    assertEquals(start.allocatedChunks(), start.freeChunks());
    LoadedModel model = ModelLoader.loadConfigOnly(MODEL, null);
    try (KvCache kv = KvCache.reserve(bf16.memory(), model.config(), 16, 2, 512);
        CudaForwardBackend be = bf16.load(model, kv, 11)) {
      int chunks = PinnedChunkPool.chunksFor(be.weightBytes(), CHUNK);
      assertTrue(be.weightBytes() % CHUNK != 0, "a partial last chunk");
      KvPages pages = new KvPages(bf16.memory());
      int[] table = Greedy.contiguous(kv.maxBlocks());
      int[] tokens = Greedy.generate(be, pages, table, new int[] {1, 42, 7}, 16, null);
      byte[] weights = deviceBytes(be);

      for (int round = 0; round < 2; round++) {
        be.evictWeights();
        assertFalse(be.weightsResident());
        assertEquals(be.weightBytes(), be.hostCopyBytes());
        assertEquals(chunks, be.hostCopyChunks());
        PinnedChunkPool.Usage u = pool.usage();
        assertEquals(start.freeChunks() - chunks, u.freeChunks(), "round " + round + ": the copy holds its chunks, once");
        assertEquals(chunks, u.leasedChunks());
        assertEquals(0, u.fallbackChunks(), "no chunk pinned on the evicting thread");
        be.activateWeights();
        assertTrue(be.weightsResident());
        assertArrayEquals(weights, deviceBytes(be), "round " + round + ": weights bit-identical after the round trip");
        assertArrayEquals(tokens, Greedy.generate(be, pages, table, new int[] {1, 42, 7}, 16, null), "round " + round + ": same tokens");
        assertEquals(chunks, pool.usage().leasedChunks(), "the copy is kept while resident: the next eviction copies nothing");
      }
      be.dropHostCopy();
      assertEquals(0, be.hostCopyBytes());
      assertEquals(start.freeChunks(), pool.usage().freeChunks(), "dropping the copy restores the pool");
      be.evictWeights(); // a new copy after the drop
      assertEquals(chunks, pool.usage().leasedChunks());
      be.activateWeights();
      assertArrayEquals(weights, deviceBytes(be));
      pages.unmapAll(kv);
      pages.releaseAll();
    }
    PinnedChunkPool.Usage end = pool.usage();
    assertEquals(start.freeChunks(), end.freeChunks(), "closing the backend returned its copy");
    assertEquals(0, end.leasedChunks());
    assertEquals(start.allocatedChunks(), end.allocatedChunks());
  }

  @Test
  void twoModelsShareThePoolAndEachReturnsItsChunksOnClose() throws Exception {
    PinnedChunkPool pool = bf16.hostPool().chunks();
    assertTrue(pool.awaitFilled(Duration.ofMinutes(2)));
    int free = pool.usage().freeChunks();
    LoadedModel model = ModelLoader.loadConfigOnly(MODEL, null);
    try (KvCache kvA = KvCache.reserve(bf16.memory(), model.config(), 16, 2, 256);
        KvCache kvB = KvCache.reserve(bf16.memory(), model.config(), 16, 2, 256)) {
      CudaForwardBackend a = bf16.load(model, kvA, 1);
      CudaForwardBackend b = bf16.load(model, kvB, 2);
      byte[] wa = deviceBytes(a), wb = deviceBytes(b);
      assertFalse(java.util.Arrays.equals(wa, wb), "different seeds, different weights");
      a.evictWeights();
      b.evictWeights();
      int chunks = PinnedChunkPool.chunksFor(a.weightBytes(), CHUNK);
      assertEquals(free - 2 * chunks, pool.usage().freeChunks());
      b.activateWeights();
      a.activateWeights();
      assertArrayEquals(wa, deviceBytes(a), "each copy's chunks hold its own weights");
      assertArrayEquals(wb, deviceBytes(b));
      a.close();
      assertEquals(free - chunks, pool.usage().freeChunks());
      b.close();
      assertEquals(free, pool.usage().freeChunks());
      assertEquals(0, pool.usage().leasedChunks());
    }
  }

  @Test
  void withoutAPoolMadeAheadAnEvictionPinsItsOwnChunksAndDroppingFreesThem() {
    try (CudaDevice plain = CudaDevices.open(1, 8L << 30, Precision.BF16, 64).get(0)) {
      PinnedChunkPool pool = plain.hostPool().chunks();
      LoadedModel model = ModelLoader.loadConfigOnly(MODEL, null);
      try (KvCache kv = KvCache.reserve(plain.memory(), model.config(), 16, 2, 256);
          CudaForwardBackend be = plain.load(model, kv, 5)) {
        byte[] w = deviceBytes(be);
        be.evictWeights();
        int chunks = PinnedChunkPool.chunksFor(be.weightBytes(), PinnedPoolSettings.DEFAULT_CHUNK_BYTES);
        assertEquals(chunks, pool.usage().fallbackChunks());
        assertEquals(chunks, pool.usage().allocatedChunks());
        be.activateWeights();
        assertArrayEquals(w, deviceBytes(be));
        be.dropHostCopy();
        assertEquals(0, pool.usage().allocatedChunks(), "no target: the chunks were freed");
      }
    }
  }

  /** The backend's device weights copied to the host. */
  static byte[] deviceBytes(CudaForwardBackend be) {
    DeviceWeights w = be.deviceWeights();
    be.synchronize();
    byte[] out = new byte[Math.toIntExact(w.bytes)];
    try (BytePointer host = new BytePointer(w.bytes)) {
      CudaCheck.check("cuMemcpyDtoH(test)", cudart.cuMemcpyDtoH(host, w.base, w.bytes));
      host.get(out);
    }
    return out;
  }
}
