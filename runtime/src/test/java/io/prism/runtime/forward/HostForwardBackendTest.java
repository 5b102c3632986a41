package io.prism.runtime.forward;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.prism.runtime.engine.ForwardBatch;
import io.prism.runtime.memory.HostDeviceMemory;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.memory.PhysicalPage;
import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.model.ModelWeights;
import io.prism.runtime.model.RopeScaling;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class HostForwardBackendTest {
  private static final int BLOCK = 8;
  private static final ModelConfig TINY = new ModelConfig("tiny", 96, 80, 2, 6, 3, 67, 64, 10000f, null, 1e-5f, true);
  private static final ModelConfig LLAMA3ISH =
      new ModelConfig("tiny-l3", 128, 72, 3, 8, 2, 53, 48, 500000f, new RopeScaling(8f, 1f, 4f, 16), 1e-5f, false);

  private final List<Runnable> cleanup = new ArrayList<>();

  @AfterEach
  void close() {
    for (Runnable r : cleanup) r.run();
  }

  /** A backend over a host KV cache of {@code maxTokens} tokens with every page id mapped (4 KiB pages). */
  private HostForwardBackend backend(ModelWeights w, int maxTokens, int threads) {
    return backend(w, maxTokens, threads, BLOCK);
  }

  private HostForwardBackend backend(ModelWeights w, int maxTokens, int threads, int blockSize) {
    HostDeviceMemory mem = new HostDeviceMemory(4096);
    KvCache kv = KvCache.reserve(mem, w.config, blockSize, 4, maxTokens);
    for (int p = 0; p < kv.maxPages(); p++) {
      List<PhysicalPage> pages = new ArrayList<>();
      for (int i = 0; i < kv.physicalPagesPerPageId(); i++) pages.add(mem.create());
      kv.map(p, pages);
    }
    HostForwardBackend b = new HostForwardBackend(w, kv, threads);
    cleanup.add(b::close);
    return b;
  }

  /** Disjoint block tables of {@code blocksEach} blocks for {@code n} sequences, drawn in shuffled order. */
  private static int[][] shuffledTables(int maxBlocks, int n, int blocksEach, long seed) {
    int[] ids = new int[maxBlocks];
    for (int i = 0; i < maxBlocks; i++) ids[i] = i;
    SplittableRandom r = new SplittableRandom(seed);
    for (int i = maxBlocks - 1; i > 0; i--) {
      int j = r.nextInt(i + 1);
      int t = ids[i];
      ids[i] = ids[j];
      ids[j] = t;
    }
    int[][] tables = new int[n][];
    for (int s = 0; s < n; s++) tables[s] = Arrays.copyOfRange(ids, s * blocksEach, (s + 1) * blocksEach);
    return tables;
  }

  private static int[] randomTokens(int n, int vocab, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    int[] t = new int[n];
    for (int i = 0; i < n; i++) t[i] = r.nextInt(vocab);
    return t;
  }

  private static void assertClose(float[] expected, float[] actual, String what) {
    for (int i = 0; i < expected.length; i++) {
      assertEquals(expected[i], actual[i], 2e-4f * Math.max(1f, Math.abs(expected[i])), what + ", logit " + i);
    }
  }

  private void checkAgainstNaive(ModelConfig cfg, int threads, int blockSize) {
    ModelWeights w = TestWeights.random(cfg, 7);
    HostForwardBackend b = backend(w, cfg.maxSeqLen(), threads, blockSize);
    int[] table = shuffledTables(b.kvCache().maxBlocks(), 1, cfg.maxSeqLen() / blockSize, 3)[0];
    int[] tokens = randomTokens(cfg.maxSeqLen(), cfg.vocabSize(), 11);
    NaiveForward ref = new NaiveForward(w);
    float[][] expected = new float[tokens.length][];
    for (int p = 0; p < tokens.length; p++) expected[p] = ref.forward(tokens[p], p);
    // Prefill in chunks of 5 and 6 (logits only after each chunk), then decode one token at a time.
    float[][] logits = new float[1][cfg.vocabSize()];
    b.forward(new ForwardBatch(List.of(new ForwardBatch.Entry(Arrays.copyOfRange(tokens, 0, 5), 0, table, true))), logits);
    assertClose(expected[4], logits[0], "chunk 1");
    b.forward(new ForwardBatch(List.of(new ForwardBatch.Entry(Arrays.copyOfRange(tokens, 5, 11), 5, table, true))), logits);
    assertClose(expected[10], logits[0], "chunk 2");
    for (int p = 11; p < tokens.length; p++) {
      b.forward(new ForwardBatch(List.of(new ForwardBatch.Entry(new int[] {tokens[p]}, p, table, true))), logits);
      assertClose(expected[p], logits[0], "position " + p);
    }
  }

  @Test
  void matchesNaiveReferenceThroughChunkedPrefillAndDecodeOverShuffledPages() {
    checkAgainstNaive(TINY, 1, BLOCK);
  }

  @Test
  void matchesNaiveReferenceWithGqaRopeScalingSeparateClassifierOnTwoThreads() {
    // head dim 16 and blocks of 16 tokens: attention scores go through the 16-row butterfly
    checkAgainstNaive(LLAMA3ISH, 2, 16);
  }

  @Test
  void batchOfSequencesGivesEachSequenceTheSameBitsAsAlone() {
    ModelWeights w = TestWeights.random(TINY, 5);
    int n = 4, len = 40;
    HostForwardBackend together = backend(w, n * len, 2);
    int[][] tables = shuffledTables(together.kvCache().maxBlocks(), n, len / BLOCK, 9);
    int[][] tokens = new int[n][];
    for (int s = 0; s < n; s++) tokens[s] = randomTokens(len, TINY.vocabSize(), 100 + s);
    int[] prompt = {3, 17, 1, 9}; // different prompt lengths, prefilled in different chunk sizes
    int[] chunk = {3, 17, 1, 4};
    // Alone: each sequence by itself (prefill in one chunk, then decode), recording logits per position.
    float[][][] alone = new float[n][len][];
    for (int s = 0; s < n; s++) {
      HostForwardBackend b = backend(w, len, 1);
      int[] table = shuffledTables(b.kvCache().maxBlocks(), 1, len / BLOCK, 20 + s)[0];
      float[][] lg = new float[1][TINY.vocabSize()];
      b.forward(new ForwardBatch(List.of(new ForwardBatch.Entry(Arrays.copyOf(tokens[s], prompt[s]), 0, table, true))), lg);
      alone[s][prompt[s] - 1] = lg[0].clone();
      for (int p = prompt[s]; p < len; p++) {
        b.forward(new ForwardBatch(List.of(new ForwardBatch.Entry(new int[] {tokens[s][p]}, p, table, true))), lg);
        alone[s][p] = lg[0].clone();
      }
    }
    // Together: every step carries every unfinished sequence; prefill advances by its chunk size.
    int[] done = new int[n];
    float[][] lg = new float[n][TINY.vocabSize()];
    int checked = 0;
    while (true) {
      List<ForwardBatch.Entry> entries = new ArrayList<>();
      List<Integer> who = new ArrayList<>();
      for (int s = 0; s < n; s++) {
        if (done[s] >= len) continue;
        int take = done[s] < prompt[s] ? Math.min(chunk[s], prompt[s] - done[s]) : 1;
        entries.add(new ForwardBatch.Entry(Arrays.copyOfRange(tokens[s], done[s], done[s] + take), done[s], tables[s], true));
        who.add(s);
      }
      if (entries.isEmpty()) break;
      together.forward(new ForwardBatch(entries), lg);
      for (int i = 0; i < who.size(); i++) {
        int s = who.get(i);
        done[s] += entries.get(i).tokens().length;
        if (alone[s][done[s] - 1] != null) {
          assertArrayEquals(alone[s][done[s] - 1], lg[i], "sequence " + s + " at position " + (done[s] - 1));
          checked++;
        }
      }
    }
    assertEquals(n * len - Arrays.stream(prompt).sum() + n, checked);
  }

  @Test
  void leavesLogitRowsOfEntriesWithoutLogitsUntouched() {
    ModelWeights w = TestWeights.random(TINY, 5);
    HostForwardBackend b = backend(w, 32, 1);
    int[][] tables = shuffledTables(b.kvCache().maxBlocks(), 2, 2, 1);
    float[][] lg = new float[2][TINY.vocabSize()];
    Arrays.fill(lg[0], 42f);
    b.forward(new ForwardBatch(List.of(
        new ForwardBatch.Entry(new int[] {1, 2, 3}, 0, tables[0], false),
        new ForwardBatch.Entry(new int[] {4}, 0, tables[1], true))), lg);
    for (float v : lg[0]) assertEquals(42f, v);
    assertEquals(new NaiveForward(w).forward(4, 0)[0], lg[1][0], 1e-4f);
  }

  @Test
  void rejectsBadPositionsTablesAndUnmappedPages() {
    ModelWeights w = TestWeights.random(TINY, 5);
    HostForwardBackend b = backend(w, TINY.maxSeqLen(), 1);
    float[][] lg = new float[1][TINY.vocabSize()];
    int[] table = {0, 1, 2, 3, 4, 5, 6, 7};
    assertThrows(IllegalArgumentException.class,
        () -> b.forward(new ForwardBatch(List.of(new ForwardBatch.Entry(new int[] {1}, TINY.maxSeqLen(), table, true))), lg));
    assertThrows(IllegalArgumentException.class,
        () -> b.forward(new ForwardBatch(List.of(new ForwardBatch.Entry(new int[] {1, 2}, 15, new int[] {0}, true))), lg));
    assertThrows(IllegalArgumentException.class,
        () -> b.forward(new ForwardBatch(List.of(new ForwardBatch.Entry(new int[] {TINY.vocabSize()}, 0, table, true))), lg));
    KvCache kv = b.kvCache();
    HostDeviceMemory mem = (HostDeviceMemory) kv.memory();
    for (PhysicalPage p : kv.unmap(0)) mem.release(p);
    assertThrows(IllegalStateException.class,
        () -> b.forward(new ForwardBatch(List.of(new ForwardBatch.Entry(new int[] {1}, 0, table, true))), lg));
  }
}
