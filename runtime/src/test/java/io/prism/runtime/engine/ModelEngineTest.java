package io.prism.runtime.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.memory.HostDeviceMemory;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.memory.PagePool;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.sampling.SamplingParams;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.ToIntFunction;
import org.junit.jupiter.api.Test;

class ModelEngineTest {
  static final long PAGE = 4096;
  static final int VOCAB = 40;
  /** kvDim 64: with block size 4, a 4 KiB page id holds 4 blocks; 2 layers = 4 physical pages per page id. */
  static final ModelConfig CONFIG = new ModelConfig("fake", 64, 128, 2, 4, 4, VOCAB, 128, 10000f, null, 1e-5f, true);
  static final EngineOptions OPTIONS = EngineOptions.defaults()
      .withBlockSize(4).withMaxBatchTokens(32).withMaxRunningSequences(8).withPrefillChunk(8).withHostThreads(1);
  /** Greedy argmax, or one {@code nextFloat()} draw over softmax(logits / temperature). */
  static final TokenSampler SAMPLER = (logits, p, rng) -> {
    int best = 0;
    for (int i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    if (p.temperature() == 0f) return best;
    double[] w = new double[logits.length];
    double sum = 0;
    for (int i = 0; i < logits.length; i++) sum += w[i] = Math.exp((logits[i] - logits[best]) / p.temperature());
    double u = rng.nextFloat() * sum;
    for (int i = 0; i < logits.length; i++) if ((u -= w[i]) < 0) return i;
    return logits.length - 1;
  };
  static final ToIntFunction<int[]> FREE = h -> -1;

  final FakeTokenizer tokenizer = new FakeTokenizer(VOCAB);
  final HostDeviceMemory memory = new HostDeviceMemory(PAGE);
  HashForwardBackend lastBackend;

  ModelEngine engine(String id, PagePool pool, EngineOptions options, ToIntFunction<int[]> forced) {
    KvCache kv = ModelEngine.reserveKvCache(memory, CONFIG, options, 4);
    lastBackend = new HashForwardBackend(CONFIG, kv, memory, forced);
    return new ModelEngine(new LoadedModel(id, id + ".bin", CONFIG, null, tokenizer), lastBackend, pool, options, SAMPLER);
  }

  PagePool bigPool() {
    return new PagePool(memory, 4096 * PAGE, 4);
  }

  static int[] prompt(long seed, int length) {
    SplittableRandom r = new SplittableRandom(seed);
    int[] p = new int[length];
    p[0] = 1;
    for (int i = 1; i < length; i++) p[i] = 3 + r.nextInt(VOCAB - 4);
    return p;
  }

  static final int[] LENGTHS = {1, 3, 7, 12, 5, 20, 33, 9};

  static GenerationRequest request(int i, SamplingParams params) {
    return new GenerationRequest("r" + i, prompt(1000 + i, LENGTHS[i]), params, 0L);
  }

  static SamplingParams params(int i, boolean sampled) {
    return sampled ? new SamplingParams(1f, 1f, 0, 77L + i, 40, List.of(), false) : SamplingParams.greedy(40);
  }

  Map<String, EngineHarness.Result> alone(boolean sampled) {
    Map<String, EngineHarness.Result> out = new HashMap<>();
    for (int i = 0; i < LENGTHS.length; i++) {
      PagePool pool = bigPool();
      ModelEngine e = engine("alone" + i, pool, OPTIONS, FREE);
      EngineHarness h = new EngineHarness();
      h.expect("r" + i);
      assertInstanceOf(Admission.Accepted.class, e.submit(request(i, params(i, sampled))));
      h.runToEnd(e, pool);
      e.close();
      pool.drainReserve(); // one pool per device memory: give this one's pages back before the next
      out.putAll(h.results);
    }
    return out;
  }

  EngineHarness together(PagePool pool, boolean sampled, ModelEngine[] engineOut) {
    ModelEngine e = engine("m", pool, OPTIONS, FREE);
    engineOut[0] = e;
    EngineHarness h = new EngineHarness();
    for (int i = 0; i < LENGTHS.length; i++) {
      h.expect("r" + i);
      assertInstanceOf(Admission.Accepted.class, e.submit(request(i, params(i, sampled))));
    }
    h.runToEnd(e, pool);
    return h;
  }

  void assertSameOutputs(Map<String, EngineHarness.Result> expected, Map<String, EngineHarness.Result> actual) {
    assertEquals(expected.keySet(), actual.keySet());
    for (String id : expected.keySet()) {
      EngineHarness.Result a = expected.get(id);
      EngineHarness.Result b = actual.get(id);
      assertEquals(a.tokens, b.tokens, id + " tokens");
      assertEquals(a.text.toString(), b.text.toString(), id + " text");
      assertEquals(a.finished.reason(), b.finished.reason(), id + " finish reason");
    }
  }

  @Test
  void eightPromptsInOneBatchGiveWhatEachGivesAlone() {
    Map<String, EngineHarness.Result> alone = alone(false);
    PagePool pool = bigPool();
    ModelEngine[] e = new ModelEngine[1];
    EngineHarness h = together(pool, false, e);

    assertSameOutputs(alone, h.results);
    assertTrue(lastBackend.maxEntries > 1, "sequences were batched");
    assertEquals(0, e[0].stats().preemptions());
    EngineHarness.assertNoWorkAndReleasesEveryPage(e[0]);
    e[0].close();
    assertEquals(0, pool.heldPages());
    assertEquals(pool.reservePages(), memory.livePages());
    assertEquals(0, memory.mappedPages());
  }

  @Test
  void preemptionByRecomputeLeavesGreedyOutputsUnchanged() {
    Map<String, EngineHarness.Result> alone = alone(false);
    PagePool pool = new PagePool(memory, 24 * PAGE, 2); // 6 page ids = 24 blocks = 96 tokens for 8 sequences
    ModelEngine[] e = new ModelEngine[1];
    EngineHarness h = together(pool, false, e);

    assertSameOutputs(alone, h.results);
    assertTrue(e[0].stats().preemptions() > 0, "the pool was small enough to force preemption");
    e[0].close();
    assertEquals(0, pool.heldPages());
    assertEquals(pool.reservePages(), memory.livePages());
  }

  @Test
  void preemptionKeepsEachSequencesRandomState() {
    Map<String, EngineHarness.Result> alone = alone(true);
    PagePool pool = new PagePool(memory, 24 * PAGE, 2);
    ModelEngine[] e = new ModelEngine[1];
    EngineHarness h = together(pool, true, e);

    assertSameOutputs(alone, h.results);
    assertTrue(e[0].stats().preemptions() > 0);
    e[0].close();
  }

  @Test
  void sameSeedGivesSameOutputAndOtherSeedsDiffer() {
    PagePool pool = bigPool();
    ModelEngine e = engine("m", pool, OPTIONS, FREE);
    EngineHarness h = new EngineHarness();
    int[] p = prompt(5, 6);
    for (int i = 0; i < 3; i++) {
      long seed = i < 2 ? 42L : 43L;
      h.expect("s" + i);
      e.submit(new GenerationRequest("s" + i, p, new SamplingParams(1f, 1f, 0, seed, 30, List.of(), true), 0L));
    }
    h.runToEnd(e, pool);
    assertEquals(h.results.get("s0").tokens, h.results.get("s1").tokens);
    assertNotEquals(h.results.get("s0").tokens, h.results.get("s2").tokens);
    e.close();
  }

  @Test
  void longPromptIsPrefilledInChunksAcrossSteps() {
    PagePool pool = bigPool();
    ModelEngine e = engine("m", pool, OPTIONS.withPrefillChunk(4), FREE);
    EngineHarness h = new EngineHarness();
    h.expect("long");
    e.submit(new GenerationRequest("long", prompt(9, 10), SamplingParams.greedy(2), 0L));

    h.accept(e.step()); // positions 0-3
    h.accept(e.step()); // 4-7
    assertTrue(h.results.get("long").tokens.isEmpty());
    assertEquals(2, e.usedBlocks(), "blocks for the 8 computed tokens; more come when the next chunk is planned");
    h.accept(e.step()); // 8-9, first token
    assertEquals(1, h.results.get("long").tokens.size());
    assertEquals(4, lastBackend.maxTokens);
    h.runToEnd(e, pool);
    assertEquals(FinishReason.LENGTH, h.results.get("long").finished.reason());
    e.close();
  }

  @Test
  void decodesShareTheTokenBudgetWithPrefillChunks() {
    PagePool pool = bigPool();
    ModelEngine e = engine("m", pool, OPTIONS.withMaxBatchTokens(6).withPrefillChunk(4), FREE);
    EngineHarness h = new EngineHarness();
    h.expect("a");
    e.submit(new GenerationRequest("a", prompt(1, 2), SamplingParams.greedy(10), 0L));
    h.accept(e.step()); // a prefilled, first token
    h.expect("b");
    e.submit(new GenerationRequest("b", prompt(2, 12), SamplingParams.greedy(10), 0L));
    h.accept(e.step()); // a decodes 1, b prefills 4
    assertEquals(5, lastBackend.maxTokens);
    h.accept(e.step()); // a decodes 1, b prefills 4
    h.accept(e.step()); // a decodes 1, b prefills its last 4 and samples
    assertEquals(4, h.results.get("a").tokens.size());
    assertEquals(1, h.results.get("b").tokens.size());
    h.runToEnd(e, pool);
    e.close();
  }

  @Test
  void rejectsRequestsOverTheContextLength() {
    PagePool pool = bigPool();
    ModelEngine e = engine("m", pool, OPTIONS, FREE);
    Admission a = e.submit(new GenerationRequest("x", prompt(1, 100), SamplingParams.greedy(29), 0L));
    assertEquals(new Admission.Rejected(new Rejection.ContextLengthExceeded("This model's maximum context length is 128 tokens. "
        + "However, you requested 129 tokens (100 in the messages, 29 in the completion).")), a);
    assertInstanceOf(Admission.Rejected.class, e.submit(new GenerationRequest("y", prompt(1, 129), SamplingParams.greedy(1), 0L)));
    assertInstanceOf(Admission.Accepted.class, e.submit(new GenerationRequest("z", prompt(1, 100), SamplingParams.greedy(28), 0L)));
    assertInstanceOf(Admission.Rejected.class, e.submit(new GenerationRequest("z", prompt(1, 10), SamplingParams.greedy(1), 0L)),
        "request id in flight");
    assertInstanceOf(Admission.Rejected.class, e.submit(new GenerationRequest("v", new int[] {1, VOCAB}, SamplingParams.greedy(1), 0L)));
    assertEquals(4, e.stats().rejected());
    e.close();
    assertInstanceOf(Admission.Rejected.class, e.submit(new GenerationRequest("w", prompt(1, 3), SamplingParams.greedy(1), 0L)));
  }

  @Test
  void checkGivesSubmitsRejectionReasonWithoutQueueing() {
    PagePool pool = bigPool();
    ModelEngine e = engine("m", pool, OPTIONS, FREE);
    GenerationRequest tooLong = new GenerationRequest("x", prompt(1, 100), SamplingParams.greedy(29), 0L);
    Rejection reason = e.check(tooLong);
    assertEquals(((Admission.Rejected) e.submit(tooLong)).rejection(), reason);
    assertEquals(Rejection.Kind.CONTEXT_LENGTH_EXCEEDED, reason.kind());
    GenerationRequest fits = new GenerationRequest("y", prompt(1, 100), SamplingParams.greedy(28), 0L);
    assertNull(e.check(fits));
    assertEquals(0, e.inFlight(), "check queues nothing");
    assertInstanceOf(Admission.Accepted.class, e.submit(fits));
    assertTrue(e.check(fits).message().contains("already in flight"), e.check(fits).message());
    e.close();
    assertTrue(e.check(fits).message().contains("shut down"));
    assertEquals(Rejection.Kind.UNAVAILABLE, e.check(fits).kind());
  }

  @Test
  void rejectsRequestsThatCouldNeverFitThePool() {
    PagePool pool = new PagePool(memory, 8 * PAGE, 0); // 2 page ids = 32 tokens
    ModelEngine e = engine("m", pool, OPTIONS, FREE);
    assertInstanceOf(Admission.Rejected.class, e.submit(new GenerationRequest("x", prompt(1, 30), SamplingParams.greedy(4), 0L)));
    assertInstanceOf(Admission.Accepted.class, e.submit(new GenerationRequest("y", prompt(1, 30), SamplingParams.greedy(3), 0L)));
    e.close();
  }

  @Test
  void eosEndsTheSequenceWithoutBeingEmitted() {
    PagePool pool = bigPool();
    ModelEngine e = engine("m", pool, OPTIONS, h -> h.length == 6 ? 2 : tokenizer.id(" e"));
    EngineHarness h = new EngineHarness();
    h.expect("a");
    e.submit(new GenerationRequest("a", prompt(1, 3), SamplingParams.greedy(10), 0L));
    h.runToEnd(e, pool);
    EngineHarness.Result r = h.results.get("a");
    assertEquals(FinishReason.STOP, r.finished.reason());
    assertEquals(3, r.tokens.size());
    assertEquals(" e e e", r.text.toString());
    e.close();
  }

  @Test
  void bosEndsTheSequenceUnlessTurnedOffOrEosIgnored() {
    ToIntFunction<int[]> script = h -> h.length == 5 ? 1 : tokenizer.id("c");
    Map<String, EngineHarness.Result> got = new HashMap<>();
    Object[][] cases = {{"on", OPTIONS, false}, {"off", OPTIONS.withBosEndsSequence(false), false}, {"ignore", OPTIONS, true}};
    for (Object[] c : cases) {
      PagePool pool = bigPool();
      ModelEngine e = engine("m", pool, (EngineOptions) c[1], script);
      EngineHarness h = new EngineHarness();
      h.expect("a");
      e.submit(new GenerationRequest("a", prompt(1, 3), new SamplingParams(0f, 1f, 0, 0L, 6, List.of(), (Boolean) c[2]), 0L));
      h.runToEnd(e, pool);
      got.put((String) c[0], h.results.get("a"));
      e.close();
      pool.drainReserve();
    }
    assertEquals(FinishReason.STOP, got.get("on").finished.reason());
    assertEquals(2, got.get("on").tokens.size());
    assertEquals(FinishReason.LENGTH, got.get("off").finished.reason());
    assertEquals(1, (int) got.get("off").tokens.get(2));
    assertEquals(6, got.get("ignore").tokens.size());
  }

  @Test
  void stopStringEndsTheTextBeforeIt() {
    // generates a, b, c, d, e, ... in order: text "ab cde fgh ..." ("b", "e", "h" have a leading space)
    ToIntFunction<int[]> alphabet = h -> 3 + (h.length - 2) % 26;
    String[] stops = {"cd", "d ef"};
    PagePool pool = bigPool();
    ModelEngine e = engine("m", pool, OPTIONS, alphabet);
    EngineHarness h = new EngineHarness();
    h.expect("one");
    h.expect("two");
    h.expect("none");
    e.submit(new GenerationRequest("one", new int[] {1, 0}, new SamplingParams(0f, 1f, 0, 0L, 20, List.of(stops[0]), false), 0L));
    e.submit(new GenerationRequest("two", new int[] {1, 0}, new SamplingParams(0f, 1f, 0, 0L, 20, List.of("zz", stops[1]), false), 0L));
    e.submit(new GenerationRequest("none", new int[] {1, 0}, new SamplingParams(0f, 1f, 0, 0L, 3, List.of("c x"), false), 0L));
    h.runToEnd(e, pool);

    assertEquals("a b", h.results.get("one").text.toString());
    assertEquals(FinishReason.STOP, h.results.get("one").finished.reason());
    assertEquals(4, h.results.get("one").tokens.size(), "the token that completed the stop string is generated");
    assertEquals("a bc", h.results.get("two").text.toString());
    assertEquals(FinishReason.STOP, h.results.get("two").finished.reason());
    assertEquals("a bc", h.results.get("none").text.toString(), "held-back prefix of a stop string is flushed at the end");
    assertEquals(FinishReason.LENGTH, h.results.get("none").finished.reason());
    e.close();
  }

  @Test
  void cancellationAtAnyPointEndsTheRequestAndFreesItsBlocksAtOnce() {
    PagePool pool = bigPool();
    ModelEngine e = engine("m", pool, OPTIONS.withMaxRunningSequences(2).withPrefillChunk(4), FREE);
    EngineHarness h = new EngineHarness();
    String[] ids = {"decoding", "prefilling", "waiting"};
    int[] lengths = {2, 20, 3};
    for (int i = 0; i < 3; i++) {
      h.expect(ids[i]);
      e.submit(new GenerationRequest(ids[i], prompt(i, lengths[i]), SamplingParams.greedy(50), 0L));
    }
    h.accept(e.step());
    h.accept(e.step());
    assertEquals(2, e.runningCount());
    assertEquals(1, e.waitingCount());
    assertEquals(2, h.results.get("decoding").tokens.size());

    int before = e.usedBlocks();
    assertTrue(e.cancel("prefilling"));
    assertEquals(before - 2, e.usedBlocks(), "its two blocks are free before the next step");
    assertTrue(e.cancel("waiting"));
    assertTrue(e.cancel("decoding"));
    assertFalse(e.cancel("decoding"));
    assertFalse(e.cancel("unknown"));
    assertEquals(0, e.usedBlocks());
    assertEquals(e.pageIdsHeld(), e.emptyPageIds() + e.cachedPageIds(), "only reclaimable page ids are left");
    assertEquals(e.pageIdsHeld() * e.physicalPagesPerPageId(), pool.heldPages());
    assertTrue(e.hasWork(), "the Finished events are still to be delivered");
    h.accept(e.step());
    for (String id : ids) assertEquals(FinishReason.CANCELLED, h.results.get(id).finished.reason());
    assertEquals(2, h.results.get("decoding").finished.completionTokens());
    assertFalse(e.hasWork());
    e.close();
  }

  @Test
  void failAllEndsEveryRequestAndReturnsEveryPage() {
    PagePool pool = bigPool();
    ModelEngine e = engine("m", pool, OPTIONS.withMaxRunningSequences(3), FREE);
    EngineHarness h = new EngineHarness();
    for (int i = 0; i < LENGTHS.length; i++) {
      h.expect("r" + i);
      e.submit(request(i, SamplingParams.greedy(40)));
    }
    h.accept(e.step());
    h.accept(e.step());
    assertTrue(e.cancel("r7"));
    h.accept(e.failAll("device lost"));
    h.assertAllFinished();
    assertEquals(FinishReason.CANCELLED, h.results.get("r7").finished.reason());
    for (int i = 0; i < 7; i++) {
      assertEquals(FinishReason.FAILED, h.results.get("r" + i).finished.reason());
      assertEquals("device lost", h.results.get("r" + i).finished.message());
    }
    assertEquals(0, e.pageIdsHeld(), "failAll drops the prefix cache and kept page ids too");
    EngineHarness.assertNoWorkAndReleasesEveryPage(e);
    assertEquals(0, pool.heldPages());
    e.close();
  }

  @Test
  void closeReturnsEveryPageAndFreesTheVirtualRanges() {
    PagePool pool = bigPool();
    ModelEngine e = engine("m", pool, OPTIONS, FREE);
    KvCache kv = lastBackend.kvCache();
    for (int i = 0; i < 4; i++) e.submit(request(i, SamplingParams.greedy(40)));
    e.step();
    e.step();
    assertTrue(pool.heldPages() > 0);
    e.close();
    e.close();
    assertEquals(0, pool.heldPages());
    assertEquals(0, memory.mappedPages());
    assertNull(kv.keys(0), "virtual ranges freed");
    assertTrue(lastBackend.closed);
    assertThrows(IllegalStateException.class, e::step);
  }

  @Test
  void twoEnginesSharingOnePoolSurviveARandomWalkOfSubmitsAndCancels() {
    PagePool pool = new PagePool(memory, 40 * PAGE, 3);
    ModelEngine[] engines = {engine("a", pool, OPTIONS, FREE), engine("b", pool, OPTIONS.withPrefillChunk(5), FREE)};
    EngineHarness h = new EngineHarness();
    SplittableRandom rnd = new SplittableRandom(7);
    List<String> inFlight = new ArrayList<>();
    Map<String, Integer> engineOf = new HashMap<>();
    int submitted = 0;
    for (int step = 0; step < 1500; step++) {
      int op = rnd.nextInt(10);
      if (op < 3 && step < 1200) {
        String id = "q" + submitted++;
        int m = rnd.nextInt(2);
        SamplingParams p = new SamplingParams(rnd.nextBoolean() ? 0f : 0.8f, 1f, 0, rnd.nextLong(), 1 + rnd.nextInt(40), List.of(), false);
        h.expect(id);
        assertInstanceOf(Admission.Accepted.class, engines[m].submit(new GenerationRequest(id, prompt(rnd.nextLong(), 1 + rnd.nextInt(40)), p, 0L)));
        inFlight.add(id);
        engineOf.put(id, m);
      } else if (op < 4 && !inFlight.isEmpty()) {
        String id = inFlight.get(rnd.nextInt(inFlight.size()));
        boolean live = h.results.get(id).finished == null;
        assertEquals(live, engines[engineOf.get(id)].cancel(id));
      } else if (op < 5) {
        pool.refillReserve();
      }
      for (ModelEngine e : engines) {
        h.accept(e.step());
        e.checkInvariants();
      }
      pool.checkInvariants();
      inFlight.removeIf(id -> h.results.get(id).finished != null);
    }
    for (ModelEngine e : engines) h.runToEnd(e, pool);
    h.assertAllFinished();
    long preemptions = engines[0].stats().preemptions() + engines[1].stats().preemptions();
    long cancelled = engines[0].stats().cancelled() + engines[1].stats().cancelled();
    assertTrue(preemptions > 0, "memory ran short");
    assertTrue(cancelled > 0);
    for (ModelEngine e : engines) {
      EngineHarness.assertNoWorkAndReleasesEveryPage(e);
      e.close();
    }
    assertEquals(0, pool.heldPages());
    assertEquals(pool.reservePages(), memory.livePages());
    pool.drainReserve();
    assertEquals(0, memory.livePages());
  }
}
