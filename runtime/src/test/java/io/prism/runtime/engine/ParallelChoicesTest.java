package io.prism.runtime.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
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
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code n > 1} on the real model (stories260K, host backend): the prompt is prefilled once and its
 * full blocks are shared by the choices (reference counts and used-block counts checked at the
 * fork), each choice equals the one-choice request with seed {@code seed + i}, every choice ends
 * exactly once, and every page comes back; cancelling before the fork ends all choices.
 */
class ParallelChoicesTest {
  private static LoadedModel model;
  private static final EngineOptions OPTIONS = EngineOptions.defaults().withMaxRunningSequences(8).withPrefillChunk(64).withMaxBatchTokens(128)
      .withHostThreads(1).withPrefixCaching(false);
  private static final String PROMPT = "The little dog ran to the park and saw a big red ball. He wanted to play with it";

  @BeforeAll
  static void load() {
    ModelWeights w = Llama2cLoader.load(SharedModels.file("stories260K.bin"));
    model = new LoadedModel("stories260K", "stories260K.bin", w.config, w, SentencePieceTokenizer.fromLlama2cFile(SharedModels.file("tok512.bin")));
  }

  private record Rig(HostDeviceMemory memory, PagePool pool, ModelEngine engine) {
    static Rig create() {
      HostDeviceMemory memory = new HostDeviceMemory(16 * 1024);
      PagePool pool = new PagePool(memory, 4096L * 16 * 1024, 0);
      KvCache kv = ModelEngine.reserveKvCache(memory, model.config(), OPTIONS, 4);
      return new Rig(memory, pool, new ModelEngine(model, new HostForwardBackend(model.weights(), kv, 1), pool, OPTIONS));
    }

    void closeAndCheckEveryPageReturned() {
      engine.close();
      assertEquals(0, pool.heldPages());
      assertEquals(0, memory.mappedPages());
      pool.checkInvariants();
    }
  }

  private static SamplingParams params(long seed, int n) {
    return new SamplingParams(1f, 0.95f, 0, seed, 30, List.of(), true).withN(n).withLogprobs(2);
  }

  @Test
  void fourChoicesShareThePromptBlocksAndEachEqualsTheRequestWithItsSeed() {
    int[] prompt = model.tokenizer().encode(PROMPT, true, false);
    int bs = OPTIONS.blockSize();
    int full = prompt.length / bs;
    assertTrue(full >= 1 && prompt.length % bs != 0, "the prompt has full blocks and a partial one: " + prompt.length);

    Rig rig = Rig.create();
    EngineHarness h = new EngineHarness();
    h.expect("q", 4);
    assertInstanceOf(Admission.Accepted.class, rig.engine.submit(new GenerationRequest("q", prompt, params(100, 4), 0L)));
    h.accept(rig.engine.step()); // the prefill: one sequence, then the fork
    rig.engine.checkInvariants();
    for (int j = 0; j < 4; j++) assertEquals(1, h.results.get(EngineHarness.key("q", j)).tokens.size(), "every choice has its first token");
    assertEquals(full + 1, rig.engine.usedBlocks(), "the prompt's blocks once: " + full + " shared full ones and choice 0's partial one");
    assertEquals(4, rig.engine.runningCount());
    h.accept(rig.engine.step()); // each other choice computes the partial block's tokens and its first token into its own block
    rig.engine.checkInvariants();
    assertEquals(full + 4, rig.engine.usedBlocks(), "shared full blocks + one own block per choice (4 separate requests would hold " + 4 * (full + 1) + ")");
    h.runToEnd(rig.engine, rig.pool);
    assertEquals(1, rig.engine.stats().finished(), "one request");
    rig.closeAndCheckEveryPageReturned();

    Set<List<Integer>> distinct = new HashSet<>();
    for (int j = 0; j < 4; j++) {
      Rig single = Rig.create();
      EngineHarness s = new EngineHarness();
      s.expect("s");
      single.engine.submit(new GenerationRequest("s", prompt, params(100 + j, 1), 0L));
      s.runToEnd(single.engine, single.pool);
      single.closeAndCheckEveryPageReturned();
      EngineHarness.Result choice = h.results.get(EngineHarness.key("q", j)), alone = s.results.get("s");
      assertEquals(alone.tokens, choice.tokens, "choice " + j + " = the request with seed " + (100 + j));
      assertEquals(alone.text.toString(), choice.text.toString());
      for (int i = 0; i < alone.logprobs.size(); i++) {
        assertEquals(alone.logprobs.get(i).chosen().logprob(), choice.logprobs.get(i).chosen().logprob(), 1e-6f);
      }
      distinct.add(choice.tokens);
    }
    assertTrue(distinct.size() > 1, "the choices differ");
  }

  @Test
  void cancellingBeforeTheForkEndsEveryChoiceOnceAndAfterItToo() {
    int[] prompt = model.tokenizer().encode(PROMPT, true, false);
    Rig rig = Rig.create();
    EngineHarness h = new EngineHarness();
    h.expect("a", 3);
    h.expect("b", 3);
    rig.engine.submit(new GenerationRequest("a", prompt, params(1, 3), 0L));
    assertTrue(rig.engine.cancel("a"));
    h.accept(rig.engine.step());
    for (int j = 0; j < 3; j++) assertEquals(FinishReason.CANCELLED, h.results.get(EngineHarness.key("a", j)).finished.reason());
    rig.engine.submit(new GenerationRequest("b", prompt, params(2, 3), 0L));
    h.accept(rig.engine.step());
    h.accept(rig.engine.step());
    assertTrue(rig.engine.cancel("b"));
    h.runToEnd(rig.engine, rig.pool);
    for (int j = 0; j < 3; j++) assertEquals(FinishReason.CANCELLED, h.results.get(EngineHarness.key("b", j)).finished.reason());
    assertEquals(0, rig.engine.inFlight());
    assertEquals(2, rig.engine.stats().cancelled());
    rig.closeAndCheckEveryPageReturned();
  }

  @Test
  void withoutASeedTheChoicesStillDiffer() {
    int[] prompt = model.tokenizer().encode("Once upon a time", true, false);
    Rig rig = Rig.create();
    EngineHarness h = new EngineHarness();
    h.expect("u", 2);
    rig.engine.submit(new GenerationRequest("u", prompt, params(0, 2).withSeed(null), 0L));
    h.runToEnd(rig.engine, rig.pool);
    assertNotEquals(h.results.get("u").tokens, h.results.get("u#1").tokens);
    rig.closeAndCheckEveryPageReturned();
  }
}
