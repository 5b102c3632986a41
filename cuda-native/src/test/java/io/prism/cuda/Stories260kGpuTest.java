package io.prism.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.engine.ForwardBatch;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.model.LoadedModel;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * stories260K on the GPU against the reference C implementation's outputs in {@code
 * shared/models/oracle}: float32 mode must reproduce the greedy text token for token; bf16 mode's
 * first-step logits must be close.
 */
@Tag("gpu")
class Stories260kGpuTest {
  static CudaDevice fp32, bf16;
  static LoadedModel model;

  @BeforeAll
  static void open() {
    fp32 = CudaDevices.open(1, 8L << 30, Precision.FP32, 64).get(0);
    model = TestModels.stories260k();
  }

  @AfterAll
  static void close() {
    if (fp32 != null) fp32.close();
  }

  private static Path oracle(String name) {
    return TestModels.models().resolve("oracle").resolve(name);
  }

  private static float[] firstLogits(CudaDevice dev) {
    try (KvCache kv = KvCache.reserve(dev.memory(), model.config(), 16, dev.kvElementBytes(), 512);
        CudaForwardBackend be = dev.load(model, kv)) {
      KvPages pages = new KvPages(dev.memory());
      pages.ensure(kv, 0);
      float[][] logits = new float[1][model.config().vocabSize()];
      be.forward(new ForwardBatch(List.of(new ForwardBatch.Entry(new int[] {1}, 0, new int[] {0}, true))), logits);
      pages.unmapAll(kv);
      pages.releaseAll();
      return logits[0];
    }
  }

  @Test
  void fp32FirstStepLogitsMatchTheReferenceImplementation() {
    float[] ref = TestModels.floatsText(oracle("stories260K_logits_pos0_after_BOS.txt"));
    float[] got = firstLogits(fp32);
    double maxAbs = TestModels.maxAbsError(got, ref);
    System.out.printf("stories260K fp32 first-step logits: max |err| %.3g, rel %.3g%n", maxAbs, TestModels.relativeError(got, ref));
    assertTrue(maxAbs < 1e-4, "max abs error " + maxAbs);
  }

  @Test
  void fp32GreedyTokensMatchTheOracleFor200Steps() {
    int[] oracle = TestModels.ints(oracle("stories260K_t0_n200_token_ids.txt"));
    try (KvCache kv = KvCache.reserve(fp32.memory(), model.config(), 16, 4, 512);
        CudaForwardBackend be = fp32.load(model, kv)) {
      KvPages pages = new KvPages(fp32.memory());
      int[] got = Greedy.generate(be, pages, Greedy.contiguous(kv.maxBlocks()), new int[] {1}, oracle.length, null);
      pages.unmapAll(kv);
      pages.releaseAll();
      int same = 0;
      while (same < got.length && got[same] == oracle[same]) same++;
      System.out.println("stories260K fp32 greedy: " + same + " / " + oracle.length + " tokens equal to the oracle");
      assertArrayEquals(oracle, got);
    }
  }

  @Test
  void promptInOneStepEqualsTokenByToken() {
    int[] oracle = TestModels.ints(oracle("stories260K_t0_n200_token_ids.txt"));
    int n = 40;
    int[] prompt = new int[n];
    prompt[0] = 1;
    System.arraycopy(oracle, 0, prompt, 1, n - 1);
    try (KvCache kv = KvCache.reserve(fp32.memory(), model.config(), 16, 4, 512);
        CudaForwardBackend be = fp32.load(model, kv)) {
      KvPages pages = new KvPages(fp32.memory());
      // prefill in one step (chunked by 64 tokens inside the backend: 40 fit) then 20 decode steps
      int[] got = Greedy.generate(be, pages, Greedy.scattered(kv, 8, 1), prompt, 20, null);
      pages.unmapAll(kv);
      pages.releaseAll();
      int[] want = java.util.Arrays.copyOfRange(oracle, n - 1, n - 1 + 20);
      assertArrayEquals(want, got);
    }
  }

  @Test
  void twoSequencesInOneBatchGiveTheirOwnLogits() {
    int v = model.config().vocabSize();
    try (KvCache kv = KvCache.reserve(fp32.memory(), model.config(), 16, 4, 1024);
        CudaForwardBackend be = fp32.load(model, kv)) {
      KvPages pages = new KvPages(fp32.memory());
      pages.ensure(kv, 0);
      int[] a = {1, 403, 407, 261, 378};
      int[] b = {1, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200, 210};
      int[] ta = {0}, tb = {5, 9};
      float[][] alone = new float[2][v];
      be.forward(new ForwardBatch(List.of(new ForwardBatch.Entry(a, 0, ta, true))), new float[][] {alone[0]});
      be.forward(new ForwardBatch(List.of(new ForwardBatch.Entry(b, 0, tb, true))), new float[][] {alone[1]});
      float[][] together = new float[2][v];
      be.forward(new ForwardBatch(List.of(new ForwardBatch.Entry(a, 0, ta, true), new ForwardBatch.Entry(b, 0, tb, true))), together);
      pages.unmapAll(kv);
      pages.releaseAll();
      assertTrue(TestModels.maxAbsError(together[0], alone[0]) < 1e-4);
      assertTrue(TestModels.maxAbsError(together[1], alone[1]) < 1e-4);
      assertEquals(TestModels.argmax(alone[0]), TestModels.argmax(together[0]));
    }
  }

  @Test
  void bf16FirstStepLogitsAreCloseToTheReference() {
    try (CudaDevice dev = CudaDevices.open(1, 8L << 30, Precision.BF16, 64).get(0)) {
      float[] ref = TestModels.floatsText(oracle("stories260K_logits_pos0_after_BOS.txt"));
      float[] got = firstLogits(dev);
      double rel = TestModels.relativeError(got, ref);
      System.out.printf("stories260K bf16 first-step logits: rel err %.3g, max |err| %.3g, argmax %d vs %d%n", rel,
          TestModels.maxAbsError(got, ref), TestModels.argmax(got), TestModels.argmax(ref));
      assertTrue(rel < 2e-2, "relative error " + rel);
      assertEquals(TestModels.argmax(ref), TestModels.argmax(got));
    }
  }

  @Test
  void decodeGraphReplayEqualsDirectStepsWithPaddedRows() {
    int[] oracle = TestModels.ints(oracle("stories260K_t0_n200_token_ids.txt"));
    try (KvCache kv = KvCache.reserve(fp32.memory(), model.config(), 16, 4, 1024);
        CudaForwardBackend be = fp32.load(model, kv)) {
      KvPages pages = new KvPages(fp32.memory());
      pages.ensure(kv, 0);
      // three sequences (bucket of 4: one padding row) with different prompts, 30 decode steps
      int[][] tables = {{0, 1, 2, 3}, {10, 11, 12, 13}, {20, 21, 22, 23}};
      int[][] got = new int[2][];
      for (int mode = 0; mode < 2; mode++) {
        be.graphs(mode == 1);
        int[] next = new int[3];
        int[] len = {5, 9, 1};
        java.util.List<ForwardBatch.Entry> pre = new java.util.ArrayList<>();
        for (int s = 0; s < 3; s++) {
          int[] prompt = new int[len[s]];
          prompt[0] = 1;
          System.arraycopy(oracle, 0, prompt, 1, len[s] - 1);
          pre.add(new ForwardBatch.Entry(prompt, 0, tables[s], true));
        }
        be.forwardGreedy(new ForwardBatch(pre), next);
        int[] trace = new int[90];
        int[] pos = len.clone();
        for (int step = 0; step < 30; step++) {
          java.util.List<ForwardBatch.Entry> dec = new java.util.ArrayList<>();
          for (int s = 0; s < 3; s++) dec.add(new ForwardBatch.Entry(new int[] {next[s]}, pos[s]++, tables[s], true));
          be.forwardGreedy(new ForwardBatch(dec), next);
          for (int s = 0; s < 3; s++) trace[3 * step + s] = next[s];
        }
        got[mode] = trace;
      }
      pages.unmapAll(kv);
      pages.releaseAll();
      assertTrue(be.graphReplays() >= 30, "graph replays " + be.graphReplays());
      assertArrayEquals(got[0], got[1]);
      // the first sequence continues the oracle text (prompt = BOS + 4 oracle tokens)
      for (int step = 0; step < 30; step++) assertEquals(oracle[4 + 1 + step], got[1][3 * step]);
    }
  }

  @Test
  void evictedWeightsComeBackAndGenerateTheSameTokens() {
    int[] oracle = TestModels.ints(oracle("stories260K_t0_n200_token_ids.txt"));
    try (KvCache kv = KvCache.reserve(fp32.memory(), model.config(), 16, 4, 512);
        CudaForwardBackend be = fp32.load(model, kv)) {
      KvPages pages = new KvPages(fp32.memory());
      int[] table = Greedy.contiguous(kv.maxBlocks());
      int[] before = Greedy.generate(be, pages, table, new int[] {1}, 40, null);
      be.evictWeights();
      assertTrue(!be.weightsResident());
      org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
          () -> be.forwardGreedy(new ForwardBatch(List.of(new ForwardBatch.Entry(new int[] {1}, 0, table, true))), new int[1]));
      be.activateWeights();
      assertTrue(be.weightsResident());
      int[] after = Greedy.generate(be, pages, table, new int[] {1}, 40, null);
      pages.unmapAll(kv);
      pages.releaseAll();
      assertArrayEquals(before, after);
      assertArrayEquals(java.util.Arrays.copyOf(oracle, 40), after);
    }
  }
}
