package io.prism.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.engine.ForwardBatch;
import io.prism.runtime.sampling.SamplingParams;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.sampling.LogitAdjustment;
import io.prism.runtime.sampling.Sampler;
import io.prism.runtime.sampling.TokenCounts;
import io.prism.runtime.sampling.TokenLogprobs;
import java.util.Map;
import java.util.List;
import java.util.random.RandomGenerator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@link CudaForwardBackend#forwardSampled} ({@code sample_rows}) against the host {@link Sampler}
 * on stories260K's first-step logits (fp32): for each of many stratified coins both pick a token
 * with the same coin; the device's histogram must match the host's (total variation). Without top-k /
 * top-p both scan the tokens in index order, so almost every coin must also give the same token (they
 * may differ only where float summation order moves a boundary); with truncation the host scans the
 * kept tokens by probability and the device in index order, so only the distributions agree.
 */
@Tag("gpu")
class DeviceSamplingGpuTest {
  static final int DRAWS = 4096;
  static CudaDevice dev;
  static LoadedModel model;
  static KvCache kv;
  static CudaForwardBackend be;
  static KvPages pages;
  static float[] logits;
  static final ForwardBatch BOS = new ForwardBatch(List.of(new ForwardBatch.Entry(new int[] {1}, 0, new int[] {0}, true)));

  @BeforeAll
  static void open() {
    dev = CudaDevices.open(1, 8L << 30, Precision.FP32, 64).get(0);
    model = TestModels.stories260k();
    kv = KvCache.reserve(dev.memory(), model.config(), 16, dev.kvElementBytes(), 512);
    be = dev.load(model, kv);
    pages = new KvPages(dev.memory());
    pages.ensure(kv, 0);
    float[][] rows = new float[1][model.config().vocabSize()];
    be.forward(BOS, rows);
    logits = rows[0];
  }

  @AfterAll
  static void close() {
    if (be != null) {
      pages.unmapAll(kv);
      pages.releaseAll();
      be.close();
      kv.close();
    }
    if (dev != null) dev.close();
  }

  /** A generator whose next float is {@code coin} (the host sampler draws exactly one). */
  private static RandomGenerator coin(float coin) {
    return new RandomGenerator() {
      @Override
      public long nextLong() {
        throw new IllegalStateException("only nextFloat expected");
      }

      @Override
      public float nextFloat() {
        return coin;
      }
    };
  }

  private static int device(SamplingParams p, float coin) {
    int[] next = new int[1];
    be.forwardSampled(BOS, new SamplingParams[] {p}, null, new float[] {coin}, next, new TokenLogprobs[1]);
    return next[0];
  }

  private static void comparesWithHost(float temperature, float topP, int topK) {
    comparesWithHost(temperature, topP, topK, 0f);
  }

  private static void comparesWithHost(float temperature, float topP, int topK, float minP) {
    SamplingParams p = new SamplingParams(temperature, topP, topK, 1L, 16, List.of(), false).withProcessing(minP, 0f, 0f, 1f, Map.of());
    int v = logits.length;
    int[] hostCounts = new int[v], devCounts = new int[v];
    int same = 0;
    for (int j = 0; j < DRAWS; j++) {
      float u = (j + 0.5f) / DRAWS;
      int h = Sampler.sample(logits, p, coin(u));
      int d = device(p, u);
      assertTrue(d >= 0 && d < v, "token " + d);
      hostCounts[h]++;
      devCounts[d]++;
      if (h == d) same++;
    }
    double tv = 0;
    int hostSupport = 0, devSupport = 0;
    for (int i = 0; i < v; i++) {
      tv += Math.abs(hostCounts[i] - devCounts[i]) / (2.0 * DRAWS);
      if (hostCounts[i] > 0) hostSupport++;
      if (devCounts[i] > 0) devSupport++;
    }
    System.out.printf("device sampling T=%.2f topP=%.2f topK=%d minP=%.2f: %d/%d coins same token, TV distance %.4f, support host %d device %d%n",
        temperature, topP, topK, minP, same, DRAWS, tv, hostSupport, devSupport);
    if (topP == 1f && topK == 0 && minP == 0f) assertTrue(same >= DRAWS * 0.99, same + " of " + DRAWS + " coins gave the host's token");
    assertTrue(tv < 0.01, "total variation " + tv);
  }

  @Test
  void fullSoftmaxFollowsTheHostSampler() {
    comparesWithHost(1.3f, 1f, 0);
  }

  @Test
  void topPFollowsTheHostSampler() {
    comparesWithHost(1.3f, 0.9f, 0);
  }

  @Test
  void topKThenTopPFollowsTheHostSampler() {
    comparesWithHost(1.0f, 0.8f, 20);
  }

  @Test
  void topKAloneFollowsTheHostSampler() {
    comparesWithHost(0.8f, 1f, 5);
  }

  @Test
  void minPFollowsTheHostSampler() {
    comparesWithHost(1.3f, 1f, 0, 0.05f);
    comparesWithHost(1.0f, 0.9f, 30, 0.1f);
  }

  /** Bias and penalties applied on the device give the host's adjusted row: same argmax, same log probabilities. */
  @Test
  void adjustmentsAndLogprobsOnTheDeviceMatchTheHost() {
    int v = logits.length;
    int top = Sampler.argmax(logits);
    TokenCounts counts = new TokenCounts(new int[] {1, top, 7, 9}, true);
    for (int t : new int[] {top, top, 30, 31, 31, 31}) counts.addOutput(t);
    for (float temperature : new float[] {0f, 0.7f}) {
      SamplingParams p = new SamplingParams(temperature, 1f, 0, 1L, 16, List.of(), false).withLogprobs(20)
          .withProcessing(0f, 0.5f, 1.5f, 1.3f, Map.of(40, 3f, 41, -100f, top, -1f));
      LogitAdjustment a = LogitAdjustment.of(p, counts);
      float[] adjusted = logits.clone();
      a.apply(adjusted);
      int[] next = new int[1];
      TokenLogprobs[] out = new TokenLogprobs[1];
      be.forwardSampled(BOS, new SamplingParams[] {p}, new LogitAdjustment[] {a}, new float[] {0.37f}, next, out);
      int expectedToken = temperature == 0f ? Sampler.argmax(adjusted) : Sampler.sample(adjusted, p, coin(0.37f));
      if (temperature == 0f) assertEquals(expectedToken, next[0]);
      TokenLogprobs host = Sampler.logprobs(adjusted, temperature, next[0], 20);
      TokenLogprobs dev = out[0];
      assertEquals(next[0], dev.tokenId());
      assertEquals(host.logprob(), dev.logprob(), 1e-4f);
      assertEquals(java.util.Arrays.toString(host.topIds()), java.util.Arrays.toString(dev.topIds()));
      double mass = 0;
      for (int k = 0; k < 20; k++) {
        assertEquals(host.topLogprobs()[k], dev.topLogprobs()[k], 1e-4f, "rank " + k);
        mass += Math.exp(dev.topLogprobs()[k]);
      }
      assertTrue(mass <= 1 + 1e-5, "top mass " + mass);
      assertTrue(dev.topIds()[0] != 41 && v > 41);
      System.out.printf("device logprobs T=%.1f: chosen %d lp %.5f (host %.5f), top-20 mass %.5f%n", temperature, next[0], dev.logprob(), host.logprob(), mass);
    }
  }

  @Test
  void tinyTopPAndZeroTemperatureAreGreedy() {
    int argmax = Sampler.argmax(logits);
    for (float u : new float[] {0f, 0.3f, 0.999f}) {
      assertEquals(argmax, device(new SamplingParams(1f, 1e-6f, 0, 1L, 16, List.of(), false), u));
      assertEquals(argmax, device(new SamplingParams(0f, 1f, 0, 1L, 16, List.of(), false), u));
    }
  }
}
