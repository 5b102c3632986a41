package io.prism.runtime.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.forward.HostForwardBackend;
import io.prism.runtime.memory.HostDeviceMemory;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.memory.PagePool;
import io.prism.runtime.model.Llama2cLoader;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.model.ModelWeights;
import io.prism.runtime.model.SharedModels;
import io.prism.runtime.sampling.SamplingParams;
import io.prism.runtime.tokenizer.SentencePieceTokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The real model (stories260K, host backend) with the memory features: K/V reused from the prefix
 * cache equal recomputed K/V (greedy text still matches the reference program), weights evicted and
 * activated give the same output, and the prefill speed is measured.
 */
class Stories260KMemoryTest {
  private static final String ONCE = "Once upon a time";
  private static final long PAGE = 64 * 1024;
  private static LoadedModel model;

  @BeforeAll
  static void load() {
    ModelWeights w = Llama2cLoader.load(SharedModels.file("stories260K.bin"));
    SentencePieceTokenizer tok = SentencePieceTokenizer.fromLlama2cFile(SharedModels.file("tok512.bin"));
    model = new LoadedModel("stories260K", SharedModels.file("stories260K.bin").toString(), w.config, w, tok);
  }

  private final HostDeviceMemory memory = new HostDeviceMemory(PAGE);
  private final PagePool pool = new PagePool(memory, 1024 * PAGE, 4);

  private ModelEngine engine(EngineOptions options) {
    KvCache kv = ModelEngine.reserveKvCache(memory, model.config(), options, 4);
    return new ModelEngine(model, new HostForwardBackend(model.weights(), kv, 1), pool, options);
  }

  private static final EngineOptions OPTIONS = EngineOptions.defaults().withMaxRunningSequences(4).withPrefillChunk(16)
      .withMaxBatchTokens(64).withHostThreads(1);

  private static EngineHarness.Result run(ModelEngine e, PagePool pool, String id, int[] prompt, int maxTokens) {
    EngineHarness h = new EngineHarness();
    h.expect(id);
    e.submit(new GenerationRequest(id, prompt, SamplingParams.greedy(maxTokens), 0L));
    h.runToEnd(e, pool);
    return h.results.get(id);
  }

  @Test
  void aGreedyContinuationFromCachedBlocksStillMatchesTheReference() throws IOException {
    String expected = Files.readString(SharedModels.file("oracle/stories260K_t0_n256_prompt_Once_upon_a_time.txt"), StandardCharsets.UTF_8);
    ModelEngine e = engine(OPTIONS);
    int[] prompt = model.tokenizer().encode(ONCE, true, false);
    EngineHarness.Result first = run(e, pool, "first", prompt, 257 - prompt.length);
    assertEquals(expected, ONCE + first.text + "\n");

    // the first 60 generated tokens become the prompt: its blocks are in the cache, K/V computed while decoding
    int[] longer = Arrays.copyOf(prompt, prompt.length + 60);
    for (int i = 0; i < 60; i++) longer[prompt.length + i] = first.tokens.get(i);
    long computedBefore = e.stats().computedTokens();
    EngineHarness.Result second = run(e, pool, "second", longer, 257 - longer.length);

    assertEquals((longer.length - 1) / 16 * 16, e.stats().cachedTokens());
    assertEquals(longer.length - e.stats().cachedTokens() + second.tokens.size() - 1, e.stats().computedTokens() - computedBefore);
    assertEquals(first.tokens.subList(60, first.tokens.size()), second.tokens, "same greedy continuation");
    e.close();
  }

  @Test
  void evictingAndActivatingTheWeightsGivesTheSameOutput() {
    ModelEngine e = engine(OPTIONS);
    assertTrue(pool.reserveWeights(e.owner(), e.weightBytes()));
    int[] prompt = model.tokenizer().encode("The little dog ran to the park", true, false);
    EngineHarness.Result before = run(e, pool, "before", prompt, 80);

    e.evict();
    pool.releaseWeights(e.owner());
    assertFalse(e.weightsResident());
    assertEquals(0, pool.pagesHeldBy(e.owner()));
    assertEquals(0, pool.weightBytesOf(e.owner()));
    pool.checkInvariants();
    e.submit(new GenerationRequest("after", prompt, SamplingParams.greedy(80), 0L));
    assertTrue(e.step().isEmpty(), "waits for activation");
    assertTrue(pool.reserveWeights(e.owner(), e.weightBytes()));
    e.activate();
    EngineHarness h = new EngineHarness();
    h.expect("after");
    h.runToEnd(e, pool);

    assertEquals(before.tokens, h.results.get("after").tokens);
    assertEquals(before.text.toString(), h.results.get("after").text.toString());
    e.close();
    pool.releaseWeights(e.owner());
  }

  @Test
  void evictedHostBackendRefusesToRun() {
    ModelEngine e = engine(OPTIONS);
    e.evict();
    HostForwardBackend b = new HostForwardBackend(model.weights(), ModelEngine.reserveKvCache(memory, model.config(), OPTIONS, 4), 1);
    b.evictWeights();
    assertThrows(IllegalStateException.class, () -> b.forward(new ForwardBatch(List.of()), new float[0][]));
    b.activateWeights();
    assertTrue(b.weightsResident());
    b.kvCache().close();
    b.close();
    e.close();
  }

  @Test
  void prefillSpeedIsMeasuredAtLoad() {
    ModelEngine e = engine(OPTIONS);
    double tokensPerSecond = e.measurePrefillTokensPerSecond();
    System.out.printf("stories260K host prefill: %.0f tokens/s (16-token prefill, 1 thread)%n", tokensPerSecond);
    assertTrue(tokensPerSecond > 0 && Double.isFinite(tokensPerSecond));
    assertEquals(0, e.usedBlocks());
    e.close();
  }
}
