package io.prism.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.engine.ForwardBatch;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.model.RandomModels;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The decode-speed kernels against the plain ones on a real shape ({@code random:llama-3.2-1b} in
 * bf16, weights generated on the device): the fused single-token GEMVs (norm, RoPE, KV write,
 * SwiGLU and residual folded in), the decode attention kernel (attn_dec) with its in-kernel split
 * merge, and programmatic dependent launch (trigger at block start or after the main work). Each comparison runs the same steps over the same KV contents.
 */
@Tag("gpu")
class FusedKernelsGpuTest {
  static CudaDevice dev;
  static LoadedModel model;
  static KvCache kv;
  static CudaForwardBackend be;
  static KvPages pages;
  static final int[] LENGTHS = {1, 77, 700};
  static int[][] tables;
  static int[][] prompts;

  @BeforeAll
  static void open() {
    dev = CudaDevices.open(1, 8L << 30, Precision.BF16, 2048).get(0);
    ModelConfig c = RandomModels.config("random:llama-3.2-1b");
    model = new LoadedModel("random:llama-3.2-1b", "random:llama-3.2-1b", c, null, null);
    kv = KvCache.reserve(dev.memory(), c, 16, 2, 3 * 1024);
    be = dev.load(model, kv, 3);
    pages = new KvPages(dev.memory());
    Random rnd = new Random(5);
    tables = new int[LENGTHS.length][];
    prompts = new int[LENGTHS.length][];
    for (int s = 0; s < LENGTHS.length; s++) {
      tables[s] = new int[64];
      for (int b = 0; b < 64; b++) tables[s][b] = s * 64 + b;
      pages.ensureBlocks(kv, tables[s]);
      prompts[s] = rnd.ints(LENGTHS[s], 0, c.vocabSize()).toArray();
    }
  }

  @AfterAll
  static void close() {
    if (be != null) be.close();
    if (kv != null) {
      pages.unmapAll(kv);
      pages.releaseAll();
      kv.close();
    }
    if (dev != null) dev.close();
  }

  /** Prefills every sequence (plain kernels), then returns the logits of one decode step per sequence run alone (single-token steps). */
  private static float[][] singleTokenLogits(boolean fused, String attn, boolean pdl) {
    be.kernels(false, "tile", "tile", false);
    prefillAll();
    be.kernels(fused, attn, "tile", pdl);
    int v = model.config().vocabSize();
    float[][] out = new float[LENGTHS.length][v];
    for (int s = 0; s < LENGTHS.length; s++) {
      be.forward(new ForwardBatch(List.of(new ForwardBatch.Entry(new int[] {7 + s}, LENGTHS[s], tables[s], true))), new float[][] {out[s]});
    }
    return out;
  }

  private static void prefillAll() {
    for (int s = 0; s < LENGTHS.length; s++) {
      be.forward(new ForwardBatch(List.of(new ForwardBatch.Entry(prompts[s], 0, tables[s], true))), new float[1][model.config().vocabSize()]);
    }
  }

  /** One decode step of all sequences together (forward, logits). */
  private static float[][] batchLogits(String attn, int maxSplits) {
    be.kernels(false, "tile", "tile", false);
    be.tuning(8, 64, 0);
    prefillAll();
    be.kernels(true, attn, "tile", true);
    be.tuning(8, maxSplits, 0);
    int v = model.config().vocabSize();
    List<ForwardBatch.Entry> es = new ArrayList<>();
    for (int s = 0; s < LENGTHS.length; s++) es.add(new ForwardBatch.Entry(new int[] {11 + s}, LENGTHS[s], tables[s], true));
    float[][] out = new float[LENGTHS.length][v];
    be.forward(new ForwardBatch(es), out);
    be.tuning(8, 64, 0);
    return out;
  }

  @Test
  void fusedSingleTokenGemvsGiveThePlainKernelsLogits() {
    float[][] plain = singleTokenLogits(false, "tile", false);
    float[][] fused = singleTokenLogits(true, "tile", false);
    for (int s = 0; s < LENGTHS.length; s++) {
      double rel = TestModels.relativeError(fused[s], plain[s]);
      System.out.printf("fused GEMVs vs plain, %d tokens of context: rel err %.3g, max |err| %.3g%n", LENGTHS[s], rel,
          TestModels.maxAbsError(fused[s], plain[s]));
      assertTrue(rel < 1e-4, "relative error " + rel);
      assertEquals(TestModels.argmax(plain[s]), TestModels.argmax(fused[s]));
    }
  }

  @Test
  void decodeAttentionGivesTheTileAttentionLogits() {
    float[][] tile = singleTokenLogits(true, "tile", false);
    for (String attn : new String[] {"dec", "dec4", "decp"}) {
      float[][] warp = singleTokenLogits(true, attn, false);
      for (int s = 0; s < LENGTHS.length; s++) {
        double rel = TestModels.relativeError(warp[s], tile[s]);
        System.out.printf("%s attention vs tile, %d tokens of context: rel err %.3g%n", attn, LENGTHS[s], rel);
        assertTrue(rel < 1e-2, attn + " relative error " + rel);
      }
    }
    // a batch of the three sequences: several splits merged in-kernel, and a single split
    float[][] tileBatch = batchLogits("tile", 64);
    for (int maxSplits : new int[] {64, 1}) {
      float[][] warp = batchLogits(maxSplits == 1 ? "decp" : "dec4", maxSplits);
      for (int s = 0; s < LENGTHS.length; s++) {
        double rel = TestModels.relativeError(warp[s], tileBatch[s]);
        System.out.printf("decode attention (at most %d splits) in a batch of 3, %d tokens of context: rel err %.3g%n", maxSplits, LENGTHS[s], rel);
        assertTrue(rel < 1e-2, "relative error " + rel);
      }
    }
  }

  @Test
  void dependentLaunchChangesNoBitAndGraphsReplayIt() {
    float[][] serial = singleTokenLogits(true, "dec4", false);
    for (boolean late : new boolean[] {false, true}) {
      be.tuning(0, 0, 0, late);
      float[][] pdl = singleTokenLogits(true, "dec4", true);
      for (int s = 0; s < LENGTHS.length; s++) assertArrayEquals(serial[s], pdl[s], "sequence " + s + ", late trigger " + late);
    }
    // single-sequence greedy decode (fused kernels, bucket 1): replayed graphs = direct steps
    int[][] one = new int[2][];
    for (int mode = 0; mode < 2; mode++) {
      be.kernels(false, "tile", "tile", false);
      prefillAll();
      be.kernels(true, "dec4", "tile", true);
      be.graphs(mode == 1);
      int[] next = {9};
      int[] trace = new int[16];
      for (int step = 0; step < 16; step++) {
        be.forwardGreedy(new ForwardBatch(List.of(new ForwardBatch.Entry(new int[] {next[0]}, LENGTHS[2] + step, tables[2], true))), next);
        trace[step] = next[0];
      }
      one[mode] = trace;
    }
    be.graphs(true);
    assertArrayEquals(one[0], one[1]);
  }

  @Test
  void headMajorKvBlocksGiveTheSameLogitsAsTokenMajor() {
    float[][] token = singleTokenLogits(true, "dec4", false);
    float[][] tokenTile = singleTokenLogits(true, "tile", false);
    be.kvLayout(true);
    try {
      float[][] head = singleTokenLogits(true, "dec4", false);
      float[][] headTile = singleTokenLogits(true, "tile", false);
      for (int s = 0; s < LENGTHS.length; s++) {
        assertArrayEquals(token[s], head[s], "dec4, sequence " + s);
        assertArrayEquals(tokenTile[s], headTile[s], "tile, sequence " + s);
      }
    } finally {
      be.kvLayout(false);
    }
  }

  @Test
  void reduceScatteredAttentionForHeadDim128GivesTheTileLogits() {
    // a small model with the 8B's head shape (head dim 128, 4 query heads per KV head): attn_dec16's case
    ModelConfig c = new ModelConfig("hd128", 1024, 2048, 2, 8, 2, 1024, 2048, 500000f, null, 1e-5f, false);
    LoadedModel m = new LoadedModel("hd128", "random:hd128", c, null, null);
    KvPages own = new KvPages(dev.memory());
    KvCache kv2 = KvCache.reserve(dev.memory(), c, 16, 2, 3 * 1024);
    int[][] toks = new int[LENGTHS.length][];
    for (int s = 0; s < LENGTHS.length; s++) toks[s] = java.util.Arrays.stream(prompts[s]).map(t -> t % c.vocabSize()).toArray();
    try (CudaForwardBackend b = dev.load(m, kv2, 11)) {
      int[][] tabs = new int[LENGTHS.length][64];
      for (int s = 0; s < LENGTHS.length; s++) {
        for (int i = 0; i < 64; i++) tabs[s][i] = s * 64 + i;
        own.ensureBlocks(kv2, tabs[s]);
      }
      float[][][] got = new float[5][][];
      String[] attn = {"tile", "dec4", "dec16", "dec16", "auto"};
      int[] maxSplits = {64, 64, 64, 1, 64};
      for (int k = 0; k < attn.length; k++) {
        b.kernels(false, "tile", "tile", false);
        for (int s = 0; s < LENGTHS.length; s++) {
          b.forward(new ForwardBatch(List.of(new ForwardBatch.Entry(toks[s], 0, tabs[s], true))), new float[1][c.vocabSize()]);
        }
        b.kernels(true, attn[k], "tile", false);
        b.tuning(8, maxSplits[k], 0);
        List<ForwardBatch.Entry> es = new ArrayList<>();
        for (int s = 0; s < LENGTHS.length; s++) es.add(new ForwardBatch.Entry(new int[] {5 + s}, LENGTHS[s], tabs[s], true));
        got[k] = new float[LENGTHS.length][c.vocabSize()];
        b.forward(new ForwardBatch(es), got[k]);
      }
      // one sequence alone (fused single-token step) with attn_dec16 against tile
      float[][] single = new float[2][c.vocabSize()];
      for (int k = 0; k < 2; k++) {
        b.kernels(true, k == 0 ? "tile" : "dec16", "tile", false);
        b.tuning(8, 64, 0);
        b.forward(new ForwardBatch(List.of(new ForwardBatch.Entry(new int[] {9}, LENGTHS[2], tabs[2], true))), new float[][] {single[k]});
      }
      for (int k = 1; k < attn.length; k++) {
        for (int s = 0; s < LENGTHS.length; s++) {
          double rel = TestModels.relativeError(got[k][s], got[0][s]);
          System.out.printf("head dim 128: %s (at most %d splits) vs tile, %d tokens of context: rel err %.3g%n", attn[k], maxSplits[k], LENGTHS[s], rel);
          assertTrue(rel < 1e-2, attn[k] + " relative error " + rel);
        }
      }
      double rel = TestModels.relativeError(single[1], single[0]);
      System.out.printf("head dim 128: dec16 single-token step vs tile: rel err %.3g%n", rel);
      assertTrue(rel < 1e-2, "single-token relative error " + rel);
    } finally {
      own.unmapAll(kv2);
      own.releaseAll();
      kv2.close();
    }
  }
}
