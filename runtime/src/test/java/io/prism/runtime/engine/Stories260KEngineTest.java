package io.prism.runtime.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
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
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The real model through the whole engine: stories260K with {@link HostForwardBackend}. Eight
 * prompts of different lengths generated in one batch give exactly what each gives alone (greedy),
 * also with a page pool so small that sequences are preempted and recomputed; every page comes back.
 */
class Stories260KEngineTest {
  private static final String[] PROMPTS = {
      "Once upon a time",
      "Lily",
      "The little dog ran to the park and saw a big red ball. He wanted to",
      "Tom had a",
      "One day, a girl named Sue went to the beach with her mom. The sun was hot and the water was",
      "The cat",
      "Ben and Mia were best friends. They liked to play in the garden every day after",
      "Once there was a tiny bird who could not fly, so",
  };
  private static final int MAX_TOKENS = 80;
  private static LoadedModel model;

  @BeforeAll
  static void load() {
    ModelWeights w = Llama2cLoader.load(SharedModels.file("stories260K.bin"));
    SentencePieceTokenizer tok = SentencePieceTokenizer.fromLlama2cFile(SharedModels.file("tok512.bin"));
    model = new LoadedModel("stories260K", SharedModels.file("stories260K.bin").toString(), w.config, w, tok);
  }

  /** A host device with {@code pageBytes} pages, a pool of {@code budgetPages} of them, and one engine. */
  private static final class Rig {
    final HostDeviceMemory memory;
    final PagePool pool;
    final ModelEngine engine;

    Rig(long pageBytes, int budgetPages, EngineOptions options) {
      memory = new HostDeviceMemory(pageBytes);
      pool = new PagePool(memory, budgetPages * pageBytes, 4);
      KvCache kv = ModelEngine.reserveKvCache(memory, model.config(), options, 4);
      engine = new ModelEngine(model, new HostForwardBackend(model.weights(), kv, 1), pool, options);
    }

    void closeAndCheckEveryPageReturned() {
      engine.close();
      assertEquals(0, pool.heldPages());
      assertEquals(0, memory.mappedPages());
      assertEquals(pool.reservePages(), memory.livePages());
      pool.checkInvariants();
      pool.drainReserve();
      assertEquals(0, memory.livePages());
    }
  }

  private static final EngineOptions OPTIONS = EngineOptions.defaults().withMaxRunningSequences(8).withPrefillChunk(16).withMaxBatchTokens(64).withHostThreads(1);

  private static GenerationRequest request(int i, int maxTokens) {
    return new GenerationRequest("p" + i, model.tokenizer().encode(PROMPTS[i], true, false), SamplingParams.greedy(maxTokens), 0L);
  }

  private static Map<String, EngineHarness.Result> alone() {
    Map<String, EngineHarness.Result> out = new HashMap<>();
    for (int i = 0; i < PROMPTS.length; i++) {
      Rig rig = new Rig(64 * 1024, 1024, OPTIONS);
      EngineHarness h = new EngineHarness();
      h.expect("p" + i);
      assertInstanceOf(Admission.Accepted.class, rig.engine.submit(request(i, MAX_TOKENS)));
      h.runToEnd(rig.engine, rig.pool);
      rig.closeAndCheckEveryPageReturned();
      out.putAll(h.results);
    }
    return out;
  }

  private static EngineHarness together(Rig rig) {
    EngineHarness h = new EngineHarness();
    for (int i = 0; i < PROMPTS.length; i++) {
      h.expect("p" + i);
      assertInstanceOf(Admission.Accepted.class, rig.engine.submit(request(i, MAX_TOKENS)));
    }
    h.runToEnd(rig.engine, rig.pool);
    return h;
  }

  private static void assertSame(Map<String, EngineHarness.Result> expected, Map<String, EngineHarness.Result> actual) {
    for (String id : expected.keySet()) {
      assertEquals(expected.get(id).tokens, actual.get(id).tokens, id + " tokens");
      assertEquals(expected.get(id).text.toString(), actual.get(id).text.toString(), id + " text");
      assertEquals(expected.get(id).finished.reason(), actual.get(id).finished.reason(), id + " finish reason");
    }
  }

  @Test
  void eightPromptsInOneBatchGiveExactlyWhatEachGivesAlone() {
    Map<String, EngineHarness.Result> alone = alone();
    Rig rig = new Rig(64 * 1024, 1024, OPTIONS);
    EngineHarness h = together(rig);
    assertSame(alone, h.results);
    assertEquals(0, rig.engine.stats().preemptions());
    assertTrue(rig.engine.stats().steps() < 8 * MAX_TOKENS / 2, "the prompts shared steps");
    rig.closeAndCheckEveryPageReturned();
  }

  @Test
  void eightPromptsWithPreemptionGiveExactlyWhatEachGivesAlone() {
    Map<String, EngineHarness.Result> alone = alone();
    // 4 KiB pages: one page id = 2 blocks of 16 tokens = 10 physical pages (5 layers, K and V);
    // 60 pages = 6 page ids = 192 tokens for eight sequences of up to ~100 tokens
    Rig rig = new Rig(4096, 60, OPTIONS);
    EngineHarness h = together(rig);
    assertSame(alone, h.results);
    assertTrue(rig.engine.stats().preemptions() > 0, "the pool was small enough to force preemption");
    System.out.println("stories260K, 8 prompts, 60-page pool: " + rig.engine.stats() + ", pool " + rig.pool.stats());
    h.results.forEach((id, res) -> System.out.println("  " + id + " " + res.finished.reason() + " " + res.tokens.size() + " tokens"));
    rig.closeAndCheckEveryPageReturned();
  }

  @Test
  void onceUponATimeThroughTheEngineMatchesTheReference() throws IOException {
    String expected = Files.readString(SharedModels.file("oracle/stories260K_t0_n256_prompt_Once_upon_a_time.txt"), StandardCharsets.UTF_8);
    Rig rig = new Rig(64 * 1024, 1024, OPTIONS);
    int[] prompt = model.tokenizer().encode(PROMPTS[0], true, false);
    // llama2.c's 256 steps are positions including BOS and the prompt: 257 - prompt length samples
    GenerationRequest r = new GenerationRequest("once", prompt, SamplingParams.greedy(257 - prompt.length), 0L);
    EngineHarness h = new EngineHarness();
    h.expect("once");
    rig.engine.submit(r);
    h.runToEnd(rig.engine, rig.pool);
    assertEquals(expected, PROMPTS[0] + h.results.get("once").text + "\n");
    rig.closeAndCheckEveryPageReturned();
  }
}
