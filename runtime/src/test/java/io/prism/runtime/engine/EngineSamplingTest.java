package io.prism.runtime.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.memory.HostDeviceMemory;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.memory.PagePool;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.sampling.LogitAdjustment;
import io.prism.runtime.sampling.SamplingParams;
import io.prism.runtime.sampling.TokenCounts;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Penalties, bias and log probabilities through the whole engine (host sampler), on the hash
 * backend that reads every token back from the paged KV cache.
 */
class EngineSamplingTest {
  private final HostDeviceMemory memory = new HostDeviceMemory(ModelEngineTest.PAGE);
  private final FakeTokenizer tokenizer = new FakeTokenizer(ModelEngineTest.VOCAB);

  private ModelEngine engine(PagePool pool, TokenSampler sampler) {
    KvCache kv = ModelEngine.reserveKvCache(memory, ModelEngineTest.CONFIG, ModelEngineTest.OPTIONS, 4);
    HashForwardBackend b = new HashForwardBackend(ModelEngineTest.CONFIG, kv, memory, ModelEngineTest.FREE);
    return new ModelEngine(new LoadedModel("m", "m.bin", ModelEngineTest.CONFIG, null, tokenizer), b, pool, ModelEngineTest.OPTIONS, sampler);
  }

  private EngineHarness run(TokenSampler sampler, GenerationRequest... requests) {
    PagePool pool = new PagePool(memory, 4096 * ModelEngineTest.PAGE, 0);
    ModelEngine e = engine(pool, sampler);
    EngineHarness h = new EngineHarness();
    for (GenerationRequest r : requests) {
      h.expect(r.requestId(), r.params().n());
      assertInstanceOf(Admission.Accepted.class, e.submit(r));
    }
    h.runToEnd(e, pool);
    e.close();
    assertEquals(0, pool.heldPages());
    pool.drainReserve();
    return h;
  }

  /** Picks a scripted token sequence regardless of the row, recording the rows it was given. */
  private static final class ScriptedSampler implements TokenSampler {
    final List<float[]> rows = new ArrayList<>();

    @Override
    public int sample(float[] logits, SamplingParams params, java.util.random.RandomGenerator rng) {
      rows.add(logits.clone());
      int step = rows.size() - 1;
      return 3 + (step * step) % 5; // repeats tokens 3..7 so counts grow
    }
  }

  @Test
  void theSamplerSeesEachRowAdjustedByTheFormulasOverTheTokensGeneratedSoFar() {
    int[] prompt = ModelEngineTest.prompt(9, 6);
    SamplingParams plain = new SamplingParams(0f, 1f, 0, 1L, 12, List.of(), true);
    SamplingParams penalised = plain.withProcessing(0f, 0.4f, 0.7f, 1.3f, Map.of(5, 2.5f, 30, -4f));
    ScriptedSampler raw = new ScriptedSampler(), adjusted = new ScriptedSampler();
    EngineHarness a = run(raw, new GenerationRequest("r", prompt, plain, 0L));
    EngineHarness b = run(adjusted, new GenerationRequest("r", prompt, penalised, 0L));
    List<Integer> tokens = a.results.get("r").tokens;
    assertEquals(tokens, b.results.get("r").tokens);
    assertEquals(12, raw.rows.size());
    TokenCounts counts = new TokenCounts(prompt, true);
    for (int step = 0; step < raw.rows.size(); step++) {
      float[] expected = raw.rows.get(step).clone();
      for (int t = 0; t < expected.length; t++) { // the formulas, written out per token
        float x = expected[t] + penalised.logitBias().getOrDefault(t, 0f);
        boolean seen = counts.outputCountOf(t) > 0 || contains(prompt, t);
        if (seen) x = x > 0 ? x * (1f / 1.3f) : x * 1.3f;
        int c = counts.outputCountOf(t);
        x += -(0.7f * c) - (c > 0 ? 0.4f : 0f);
        expected[t] = x;
      }
      assertArrayEquals(expected, adjusted.rows.get(step), 1e-5f, "step " + step);
      counts.addOutput(tokens.get(step));
    }
    assertNotEquals(raw.rows.get(5)[tokens.get(0)], adjusted.rows.get(5)[tokens.get(0)]);
  }

  private static boolean contains(int[] a, int t) {
    for (int x : a) if (x == t) return true;
    return false;
  }

  @Test
  void greedyTokensHaveTheTopLogprobAndSeededRequestsRepeatTheirLogprobs() {
    int[] prompt = ModelEngineTest.prompt(4, 9);
    SamplingParams greedy = SamplingParams.greedy(15).withLogprobs(5);
    EngineHarness g = run(TokenSampler.HOST, new GenerationRequest("g", prompt, greedy, 0L));
    EngineHarness.Result r = g.results.get("g");
    assertEquals(r.tokens.size(), r.logprobs.size());
    for (int i = 0; i < r.tokens.size(); i++) {
      GeneratedLogprobs lp = r.logprobs.get(i);
      assertEquals(5, lp.top().size());
      assertEquals(r.tokens.get(i), lp.chosen().tokenId());
      assertEquals(lp.top().get(0).tokenId(), lp.chosen().tokenId());
      assertEquals(lp.top().get(0).logprob(), lp.chosen().logprob());
      double mass = 0;
      for (GeneratedLogprobs.Candidate c : lp.top()) mass += Math.exp(c.logprob());
      assertTrue(mass <= 1 + 1e-6);
      assertArrayEquals(tokenizer.decodeBytes(i == 0 ? prompt[prompt.length - 1] : r.tokens.get(i - 1), r.tokens.get(i)), lp.chosen().bytes());
    }
    SamplingParams sampled = new SamplingParams(0.9f, 0.95f, 0, 21L, 15, List.of(), true).withLogprobs(3)
        .withProcessing(0.05f, 0.2f, 0.1f, 1.1f, Map.of(7, 1f));
    EngineHarness s1 = run(TokenSampler.HOST, new GenerationRequest("s", prompt, sampled, 0L));
    EngineHarness s2 = run(TokenSampler.HOST, new GenerationRequest("s", prompt, sampled, 0L), new GenerationRequest("other", prompt, greedy, 0L));
    assertEquals(s1.results.get("s").tokens, s2.results.get("s").tokens);
    for (int i = 0; i < s1.results.get("s").logprobs.size(); i++) {
      GeneratedLogprobs x = s1.results.get("s").logprobs.get(i), y = s2.results.get("s").logprobs.get(i);
      assertEquals(x.chosen().logprob(), y.chosen().logprob());
      for (int k = 0; k < 3; k++) assertEquals(x.top().get(k).tokenId(), y.top().get(k).tokenId());
    }
  }

  @Test
  void aLargeBiasForcesItsTokenAndALargeNegativeOneBansIt() {
    int[] prompt = ModelEngineTest.prompt(5, 4);
    SamplingParams forced = new SamplingParams(1f, 1f, 0, 3L, 10, List.of(), false).withProcessing(0f, 0f, 0f, 1f, Map.of(11, 100f));
    assertEquals(List.of(11, 11, 11, 11, 11, 11, 11, 11, 11, 11), run(TokenSampler.HOST, new GenerationRequest("f", prompt, forced, 0L)).results.get("f").tokens);
    SamplingParams banned = SamplingParams.greedy(30).withProcessing(0f, 0f, 0f, 1f, Map.of(11, -100f));
    assertTrue(!run(TokenSampler.HOST, new GenerationRequest("b", prompt, banned, 0L)).results.get("b").tokens.contains(11));
  }

  @Test
  void theDeviceSamplingPathGivesTheHostPathsTokensAndLogprobsWithPenalties() {
    SamplingParams p = new SamplingParams(0.8f, 0.9f, 6, 13L, 20, List.of(), true).withLogprobs(4).withProcessing(0.02f, 0.5f, 0.3f, 1.2f,
        Map.of(4, 1.5f));
    SamplingParams g = SamplingParams.greedy(20).withLogprobs(2).withProcessing(0f, 0f, 1f, 1f, Map.of());
    List<GenerationRequest> rs = List.of(new GenerationRequest("p", ModelEngineTest.prompt(7, 5), p, 0L),
        new GenerationRequest("g", ModelEngineTest.prompt(8, 11), g, 0L));
    EngineHarness host = run(TokenSampler.HOST, rs.toArray(new GenerationRequest[0]));
    PagePool pool = new PagePool(memory, 4096 * ModelEngineTest.PAGE, 0);
    KvCache kv = ModelEngine.reserveKvCache(memory, ModelEngineTest.CONFIG, ModelEngineTest.OPTIONS, 4);
    DeviceSamplingEngineTest.CoinBackend coin = new DeviceSamplingEngineTest.CoinBackend(new HashForwardBackend(ModelEngineTest.CONFIG, kv, memory,
        ModelEngineTest.FREE));
    ModelEngine e = new ModelEngine(new LoadedModel("m", "m.bin", ModelEngineTest.CONFIG, null, tokenizer), coin, pool, ModelEngineTest.OPTIONS);
    EngineHarness dev = new EngineHarness();
    for (GenerationRequest r : rs) {
      dev.expect(r.requestId());
      e.submit(r);
    }
    dev.runToEnd(e, pool);
    e.close();
    pool.drainReserve();
    assertTrue(coin.sampledCalls > 0 && coin.plainCalls == 0, "every step samples on the device: " + coin.sampledCalls + "/" + coin.plainCalls);
    for (String id : List.of("p", "g")) {
      assertEquals(host.results.get(id).tokens, dev.results.get(id).tokens, id);
      for (int i = 0; i < host.results.get(id).logprobs.size(); i++) {
        assertEquals(host.results.get(id).logprobs.get(i).chosen().logprob(), dev.results.get(id).logprobs.get(i).chosen().logprob(), 1e-6f);
      }
    }
    // the penalties are really in play: without them the greedy request differs
    EngineHarness unpenalised = run(TokenSampler.HOST, new GenerationRequest("g", ModelEngineTest.prompt(8, 11), SamplingParams.greedy(20), 0L));
    assertNotEquals(unpenalised.results.get("g").tokens, host.results.get("g").tokens);
  }

  @Test
  void adjustmentsAreSparse() {
    TokenCounts c = new TokenCounts(new int[] {1, 2, 3}, false);
    c.addOutput(9);
    SamplingParams p = SamplingParams.greedy(1).withProcessing(0f, 1f, 0f, 1f, Map.of(20, 1f));
    assertEquals(2, LogitAdjustment.of(p, c).size(), "token 9 and the biased 20; prompt tokens do not count without repetition penalty");
  }
}
