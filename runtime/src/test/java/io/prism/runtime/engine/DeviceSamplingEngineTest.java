package io.prism.runtime.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.memory.HostDeviceMemory;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.memory.PagePool;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.sampling.LogitAdjustment;
import io.prism.runtime.sampling.Sampler;
import io.prism.runtime.sampling.TokenLogprobs;
import io.prism.runtime.sampling.SamplingParams;
import java.util.List;
import java.util.Map;
import java.util.random.RandomGenerator;
import org.junit.jupiter.api.Test;

/**
 * The engine's {@link DeviceSampling} path: with a backend that samples "on the device" by running
 * the host {@link Sampler} on the coin the engine passes, every request (greedy and sampled, top-p
 * and top-k) gives the same tokens as the plain host path: the engine draws coins exactly like the
 * host sampler. All-greedy steps keep the plain forward path.
 */
class DeviceSamplingEngineTest {
  /** Delegates to a {@link HashForwardBackend}; samples each row with the host sampler on the given coin. */
  static final class CoinBackend implements ForwardBackend, DeviceSampling {
    final HashForwardBackend inner;
    int sampledCalls, plainCalls;

    CoinBackend(HashForwardBackend inner) {
      this.inner = inner;
    }

    @Override
    public void forwardSampled(ForwardBatch batch, SamplingParams[] params, LogitAdjustment[] adjustments, float[] coins, int[] next,
        TokenLogprobs[] logprobs) {
      sampledCalls++;
      float[][] rows = new float[batch.entries().size()][ModelEngineTest.VOCAB];
      inner.forward(batch, rows);
      for (int i = 0; i < rows.length; i++) {
        if (!batch.entries().get(i).wantLogits()) continue;
        if (adjustments[i] != null) adjustments[i].apply(rows[i]);
        float coin = coins[i];
        next[i] = Sampler.sample(rows[i], params[i], new RandomGenerator() {
          @Override
          public long nextLong() {
            throw new IllegalStateException("only nextFloat expected");
          }

          @Override
          public float nextFloat() {
            return coin;
          }
        });
        if (params[i].wantsLogprobs()) logprobs[i] = Sampler.logprobs(rows[i], params[i].temperature(), next[i], params[i].logprobs());
      }
    }

    @Override
    public io.prism.runtime.model.ModelConfig config() {
      return inner.config();
    }

    @Override
    public KvCache kvCache() {
      return inner.kvCache();
    }

    @Override
    public void forward(ForwardBatch batch, float[][] logits) {
      plainCalls++;
      inner.forward(batch, logits);
    }

    @Override
    public long weightBytes() {
      return inner.weightBytes();
    }

    @Override
    public void close() {
      inner.close();
    }
  }

  private static Map<String, EngineHarness.Result> run(boolean device, List<GenerationRequest> requests, int[] calls) {
    HostDeviceMemory mem = new HostDeviceMemory(ModelEngineTest.PAGE);
    PagePool pool = new PagePool(mem, 4096 * ModelEngineTest.PAGE, 0);
    KvCache kv = ModelEngine.reserveKvCache(mem, ModelEngineTest.CONFIG, ModelEngineTest.OPTIONS, 4);
    HashForwardBackend hash = new HashForwardBackend(ModelEngineTest.CONFIG, kv, mem, ModelEngineTest.FREE);
    CoinBackend coin = device ? new CoinBackend(hash) : null;
    ModelEngine e = new ModelEngine(new LoadedModel("m", "m.bin", ModelEngineTest.CONFIG, null, new FakeTokenizer(ModelEngineTest.VOCAB)),
        device ? coin : hash, pool, ModelEngineTest.OPTIONS);
    EngineHarness h = new EngineHarness();
    for (GenerationRequest r : requests) {
      h.expect(r.requestId());
      assertInstanceOf(Admission.Accepted.class, e.submit(r));
    }
    h.runToEnd(e, pool);
    e.close();
    if (coin != null) {
      calls[0] = coin.sampledCalls;
      calls[1] = coin.plainCalls;
    }
    return h.results;
  }

  private static List<GenerationRequest> requests(boolean withSampled) {
    return List.of(
        new GenerationRequest("greedy", ModelEngineTest.prompt(1, 5), SamplingParams.greedy(20), 0L),
        new GenerationRequest("full", ModelEngineTest.prompt(2, 7), withSampled ? new SamplingParams(1f, 1f, 0, 5L, 20, List.of(), true)
            : SamplingParams.greedy(20), 0L),
        new GenerationRequest("topp", ModelEngineTest.prompt(3, 4), withSampled ? new SamplingParams(0.7f, 0.8f, 0, 6L, 20, List.of(), true)
            : SamplingParams.greedy(20), 0L),
        new GenerationRequest("topk", ModelEngineTest.prompt(4, 6), withSampled ? new SamplingParams(1.2f, 0.9f, 5, 7L, 20, List.of(), true)
            : SamplingParams.greedy(20), 0L));
  }

  @Test
  void deviceSampledStepsGiveTheHostPathsTokens() {
    int[] calls = new int[2];
    Map<String, EngineHarness.Result> host = run(false, requests(true), calls);
    Map<String, EngineHarness.Result> device = run(true, requests(true), calls);
    for (String id : host.keySet()) assertEquals(host.get(id).tokens, device.get(id).tokens, id);
    assertTrue(calls[0] > 0, "no step used forwardSampled");
  }

  @Test
  void allGreedyStepsKeepThePlainForwardPath() {
    int[] calls = new int[2];
    run(true, requests(false), calls);
    assertEquals(0, calls[0]);
    assertTrue(calls[1] > 0);
  }
}
