package io.prism.runtime.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.memory.PagePool;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Prefix caching through the engine, with the fake backend that reads each token's history back
 * from the paged KV cache: a reused block with the wrong K/V, or a shared block written twice,
 * changes the output or throws.
 */
class PrefixCachingEngineTest {
  private final EngineFixture fx = new EngineFixture();
  private static final EngineOptions OPTIONS = ModelEngineTest.OPTIONS; // block size 4, prefix caching on

  private static int[] concat(int[] a, int[] b) {
    int[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  private EngineHarness.Result runOne(ModelEngine e, PagePool pool, EngineHarness h, GenerationRequest r) {
    h.expect(r.requestId());
    assertInstanceOf(Admission.Accepted.class, e.submit(r));
    h.runToEnd(e, pool);
    return h.results.get(r.requestId());
  }

  @Test
  void aRepeatedPromptSkipsItsCachedBlocksAndGivesTheSameOutput() {
    int[] prompt = ModelEngineTest.prompt(3, 21);
    GenerationRequest first = EngineFixture.request("first", prompt, 10, -1);
    GenerationRequest again = EngineFixture.request("again", prompt, 10, -1);
    GenerationRequest sampled = EngineFixture.request("sampled", prompt, 10, 99);
    Map<String, EngineHarness.Result> alone = fx.alone(List.of(first, again, sampled));
    PagePool pool = new PagePool(fx.memory, 1024 * EngineFixture.PAGE, 4);
    ModelEngine e = fx.engine("m", pool, OPTIONS);
    EngineHarness h = new EngineHarness();

    runOne(e, pool, h, first);
    long computedFirst = e.stats().computedTokens();
    assertEquals(0, e.stats().cachedTokens());
    runOne(e, pool, h, again);

    // (21 - 1) / 4 = 5 whole blocks = 20 prompt tokens come from the cache; only the last is computed
    assertEquals(20, e.stats().cachedTokens());
    assertEquals(computedFirst - 20, e.stats().computedTokens() - computedFirst);
    runOne(e, pool, h, sampled);
    assertEquals(40, e.stats().cachedTokens());
    EngineFixture.assertSameOutputs(alone, h.results);
    EngineHarness.assertNoWorkAndReleasesEveryPage(e);
    e.close();
  }

  @Test
  void aContinuationReusesBlocksThatHoldGeneratedTokens() {
    int[] prompt = ModelEngineTest.prompt(4, 10);
    PagePool pool = new PagePool(fx.memory, 1024 * EngineFixture.PAGE, 4);
    ModelEngine e = fx.engine("m", pool, OPTIONS);
    EngineHarness h = new EngineHarness();
    EngineHarness.Result r1 = runOne(e, pool, h, EngineFixture.request("turn1", prompt, 12, 5));
    int[] generated = r1.tokens.stream().mapToInt(Integer::intValue).toArray();
    // the next turn of a chat: previous prompt, the answer, and new tokens
    GenerationRequest turn2 = EngineFixture.request("turn2", concat(concat(prompt, generated), new int[] {7, 8, 9}), 8, 6);
    long computedTurn1 = e.stats().computedTokens();
    EngineHarness.Result r2 = runOne(e, pool, h, turn2);

    // every full block turn 1 computed (prompt and generated tokens) is reused, leaving one token to compute
    long expected = Math.min(computedTurn1 / 4, (turn2.promptTokens().length - 1) / 4) * 4;
    assertTrue(expected > prompt.length, "some cached blocks hold generated tokens");
    assertEquals(expected, e.stats().cachedTokens());
    EngineFixture.assertSameOutputs(fx.alone(List.of(turn2)), Map.of("turn2", r2));
    e.close();
  }

  /** Prompts sharing a system prefix, two of them identical, some arriving while others run. */
  private static List<GenerationRequest> sharedPrefixRequests(boolean sampled) {
    int[] system = ModelEngineTest.prompt(77, 13);
    List<GenerationRequest> out = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      int k = i == 5 ? 4 : i; // request 5 repeats request 4's prompt
      int[] suffix = ModelEngineTest.prompt(200 + k, 1 + (k * 5) % 11);
      suffix[0] = 3 + k;
      out.add(EngineFixture.request("s" + i, concat(system, suffix), 12 + i, sampled ? 1000 + i : -1));
    }
    return out;
  }

  private void sharedPrefixesGiveWhatEachGivesAlone(boolean sampled, int budgetPages) {
    List<GenerationRequest> requests = sharedPrefixRequests(sampled);
    Map<String, EngineHarness.Result> alone = fx.alone(requests);
    PagePool pool = new PagePool(fx.memory, budgetPages * EngineFixture.PAGE, 2);
    ModelEngine e = fx.engine("m", pool, OPTIONS);
    EngineHarness h = new EngineHarness();
    for (int i = 0; i < requests.size(); i++) {
      h.expect(requests.get(i).requestId());
      assertInstanceOf(Admission.Accepted.class, e.submit(requests.get(i)));
      if (i % 3 == 2) { // later arrivals meet blocks that running sequences registered
        for (int k = 0; k < 3; k++) {
          h.accept(e.step());
          e.checkInvariants();
          pool.checkInvariants();
        }
      }
    }
    h.runToEnd(e, pool);
    EngineFixture.assertSameOutputs(alone, h.results);
    if (budgetPages >= 100) {
      // requests 0-2 arrive together and compute the prefix side by side; the later five find it
      assertTrue(e.stats().cachedTokens() >= 5 * 12, "later requests found the system prefix: " + e.stats());
    } else {
      assertTrue(e.stats().preemptions() > 0, "the pool was small enough to force preemption");
      assertTrue(e.stats().cachedTokens() > 0);
    }
    EngineHarness.assertNoWorkAndReleasesEveryPage(e);
    e.close();
    assertEquals(0, pool.heldPages());
  }

  @Test
  void sharedPrefixesInOneBatchGiveWhatEachGivesAloneGreedy() {
    sharedPrefixesGiveWhatEachGivesAlone(false, 1024);
  }

  @Test
  void sharedPrefixesInOneBatchGiveWhatEachGivesAloneSampled() {
    sharedPrefixesGiveWhatEachGivesAlone(true, 1024);
  }

  @Test
  void sharedPrefixesUnderPreemptionGiveWhatEachGivesAlone() {
    sharedPrefixesGiveWhatEachGivesAlone(true, 28); // 7 page ids = 112 tokens for 8 sequences of up to ~45
  }

  @Test
  void turnedOffNothingIsCachedAndOutputsAreTheSame() {
    List<GenerationRequest> requests = sharedPrefixRequests(false);
    PagePool pool = new PagePool(fx.memory, 1024 * EngineFixture.PAGE, 2);
    ModelEngine e = fx.engine("m", pool, OPTIONS.withPrefixCaching(false));
    EngineHarness h = new EngineHarness();
    for (GenerationRequest r : requests) runOne(e, pool, h, r);
    assertEquals(0, e.stats().cachedTokens());
    assertEquals(0, e.cachedPageIds());
    EngineFixture.assertSameOutputs(fx.alone(requests), h.results);
    e.close();
  }

  @Test
  void twoEnginesWithSharedPrefixesSurviveARandomWalkAndReturnEveryPage() {
    PagePool pool = new PagePool(fx.memory, 40 * EngineFixture.PAGE, 3);
    ModelEngine[] engines = {fx.engine("a", pool, OPTIONS), fx.engine("b", pool, OPTIONS.withPrefillChunk(5).withReservePageIds(2))};
    int[][] prefixes = {ModelEngineTest.prompt(1, 9), ModelEngineTest.prompt(2, 17), ModelEngineTest.prompt(3, 4)};
    EngineHarness h = new EngineHarness();
    SplittableRandom rnd = new SplittableRandom(11);
    List<String> live = new ArrayList<>();
    List<Integer> engineOf = new ArrayList<>();
    for (int step = 0; step < 1200; step++) {
      int op = rnd.nextInt(10);
      if (op < 3 && step < 1000) {
        String id = "q" + engineOf.size();
        int m = rnd.nextInt(2);
        int[] p = concat(prefixes[rnd.nextInt(3)], ModelEngineTest.prompt(rnd.nextInt(6), 1 + rnd.nextInt(12)));
        h.expect(id);
        assertInstanceOf(Admission.Accepted.class, engines[m].submit(EngineFixture.request(id, p, 1 + rnd.nextInt(30), rnd.nextBoolean() ? -1 : rnd.nextLong(1 << 20))));
        live.add(id);
        engineOf.add(m);
      } else if (op < 4 && !live.isEmpty()) {
        String id = live.get(rnd.nextInt(live.size()));
        engines[engineOf.get(Integer.parseInt(id.substring(1)))].cancel(id);
      } else if (op < 5) {
        ModelEngine e = engines[rnd.nextInt(2)];
        if (rnd.nextBoolean()) e.dropCachedBlocks(1 + rnd.nextInt(3));
        else e.releaseEmptyPages(1);
      } else if (op < 6) {
        pool.refillReserve();
      }
      for (ModelEngine e : engines) {
        h.accept(e.step());
        e.checkInvariants();
      }
      pool.checkInvariants();
      assertEquals(pool.heldPages(), (engines[0].pageIdsHeld() + engines[1].pageIdsHeld()) * engines[0].physicalPagesPerPageId());
      live.removeIf(id -> h.results.get(id).finished != null);
    }
    for (ModelEngine e : engines) h.runToEnd(e, pool);
    assertTrue(engines[0].stats().cachedTokens() + engines[1].stats().cachedTokens() > 0);
    assertTrue(engines[0].stats().preemptions() + engines[1].stats().preemptions() > 0, "memory ran short");
    for (ModelEngine e : engines) {
      EngineHarness.assertNoWorkAndReleasesEveryPage(e);
      e.close();
    }
    assertEquals(0, pool.heldPages());
    pool.drainReserve();
    assertEquals(0, fx.memory.livePages());
  }
}
