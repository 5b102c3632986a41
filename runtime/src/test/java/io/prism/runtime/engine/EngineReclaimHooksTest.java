package io.prism.runtime.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.memory.PagePool;
import io.prism.runtime.policy.ModelMemory;
import io.prism.runtime.policy.Slo;
import io.prism.runtime.sampling.SamplingParams;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The hooks the GPU actor calls: memory state, preemption, weight eviction, prefill speed. */
class EngineReclaimHooksTest {
  private final EngineFixture fx = new EngineFixture();
  private static final EngineOptions OPTIONS = ModelEngineTest.OPTIONS;
  private static final long MS = 1_000_000L;

  @Test
  void pagesWantedCountsWhatTheNextStepNeedsBeyondTheModelsOwnBlocks() {
    PagePool pool = new PagePool(fx.memory, 1024 * EngineFixture.PAGE, 0);
    ModelEngine e = fx.engine("m", pool, OPTIONS.withReservePageIds(0));
    assertEquals(0, e.pagesWanted());
    e.submit(EngineFixture.request("a", ModelEngineTest.prompt(1, 8), 20, -1)); // prefill chunk 8: 2 blocks
    e.submit(EngineFixture.request("b", ModelEngineTest.prompt(2, 20), 20, -1)); // first chunk 8: 2 blocks
    assertEquals(1, e.pagesWanted(), "4 blocks: one page id");
    assertEquals(0, e.pagesWantedForRunning(), "nothing runs yet: new prefills may wait");
    e.step();
    assertEquals(1, e.pageIdsHeld());
    assertEquals(1, e.pagesWanted(), "b's next chunk needs 2 blocks, a's first decode token 1; the page id is full");
    assertEquals(1, e.pagesWantedForRunning());
    e.step();
    e.step(); // b's prompt done: 8 blocks in 2 page ids, all used
    assertEquals(1, e.pagesWanted(), "b's first decode token needs a sixth block");
    e.step();
    int held = e.pageIdsHeld();
    assertEquals(3, held);
    assertEquals(0, e.pagesWanted(), "decodes fit the free blocks it holds");
    assertEquals(held * e.physicalPagesPerPageId(), pool.pagesHeldBy("m"));
    e.close();
  }

  @Test
  void pagesWantedCountsIdleCachedBlocksThatAWaitingPrefixWouldTakeOnlyOnce() {
    PagePool pool = new PagePool(fx.memory, 8 * EngineFixture.PAGE, 0); // 2 page ids
    ModelEngine e = fx.engine("m", pool, OPTIONS.withReservePageIds(0));
    int[] first = ModelEngineTest.prompt(5, 13);
    EngineHarness h = new EngineHarness();
    h.expect("r1");
    e.submit(EngineFixture.request("r1", first, 1, -1));
    h.runToEnd(e, pool);
    assertEquals(1, e.pageIdsHeld(), "3 full blocks stay cached in its one page id, 1 block free");
    assertEquals(1, e.cachedPageIds());
    assertTrue(pool.acquire("other", pool.availableTo("other")) instanceof io.prism.runtime.memory.PageAllocation.Granted);
    int[] second = java.util.Arrays.copyOf(first, 20); // the 12 cached tokens, then 8 more
    for (int i = 12; i < 20; i++) second[i] = 3 + i % 7;
    e.submit(EngineFixture.request("r2", second, 4, -1));
    // its first chunk takes the 3 cached blocks and 2 new ones: the page id's one free block is not enough
    assertEquals(1, e.pagesWanted(), "the cached blocks the prefix takes are not also free for its new blocks");
    long stalled = e.stats().stalledSteps();
    e.step();
    assertEquals(stalled + 1, e.stats().stalledSteps(), "the step indeed cannot run without another page id");
    e.close();
  }

  @Test
  void preemptForMemoryGivesPagesBackAndLeavesTheOutputUnchanged() {
    List<GenerationRequest> requests = List.of(EngineFixture.request("r0", ModelEngineTest.prompt(10, 40), 30, 3),
        EngineFixture.request("r1", ModelEngineTest.prompt(11, 5), 30, 4));
    Map<String, EngineHarness.Result> alone = fx.alone(requests);
    PagePool pool = new PagePool(fx.memory, 1024 * EngineFixture.PAGE, 0);
    ModelEngine e = fx.engine("m", pool, OPTIONS.withReservePageIds(0));
    EngineHarness h = new EngineHarness();
    for (GenerationRequest r : requests) {
      h.expect(r.requestId());
      e.submit(r);
    }
    for (int i = 0; i < 12; i++) h.accept(e.step());
    List<RunningSequenceInfo> running = e.runningSequences();
    assertEquals(List.of("r0", "r1"), running.stream().map(RunningSequenceInfo::requestId).toList());
    RunningSequenceInfo r0 = running.get(0);
    assertTrue(r0.decoding());
    int heldBefore = pool.pagesHeldBy("m");

    assertTrue(e.preemptForMemory("r0"));
    assertEquals(heldBefore - r0.pageIdsFreedIfPreempted() * e.physicalPagesPerPageId(), pool.pagesHeldBy("m"),
        "exactly the page ids it reported");
    assertTrue(r0.pageIdsFreedIfPreempted() > 0);
    assertEquals(0, e.cachedPageIds(), "its cached blocks went with its pages");
    assertFalse(e.preemptForMemory("r0"), "now waiting, not running");
    assertFalse(e.preemptForMemory("nobody"));
    e.checkInvariants();
    pool.checkInvariants();
    h.runToEnd(e, pool);
    assertEquals(1, e.stats().preemptions());
    EngineFixture.assertSameOutputs(alone, h.results);
    e.close();
  }

  @Test
  void aLoweredMaximumTakesEffectLazilyAndLeavesOutputsUnchanged() {
    List<GenerationRequest> requests = new java.util.ArrayList<>();
    for (int i = 0; i < 4; i++) requests.add(EngineFixture.request("l" + i, ModelEngineTest.prompt(50 + i, 18 + i), 24, 60 + i));
    Map<String, EngineHarness.Result> alone = fx.alone(requests);
    PagePool pool = new PagePool(fx.memory, 1024 * EngineFixture.PAGE, 0);
    ModelEngine e = fx.engine("m", pool, OPTIONS);
    EngineHarness h = new EngineHarness();
    for (GenerationRequest r : requests) {
      h.expect(r.requestId());
      e.submit(r);
    }
    for (int i = 0; i < 6; i++) h.accept(e.step());
    int held = e.pageIdsHeld();
    assertTrue(held > 2);

    pool.setLimits("m", 0, 2 * e.physicalPagesPerPageId());
    assertEquals(held, e.pageIdsHeld(), "nothing is taken back at once");
    assertEquals(0, e.pagesWanted(), "over its maximum it asks for nothing");
    while (e.hasWork()) {
      h.accept(e.step());
      e.checkInvariants();
      pool.checkInvariants();
      assertTrue(e.pageIdsHeld() <= Math.max(held, 2), "it never grows while over the maximum");
      held = e.pageIdsHeld();
    }
    assertTrue(held <= 2);
    EngineFixture.assertSameOutputs(alone, h.results);
    e.close();
  }

  @Test
  void runningSequencesAndModelMemoryCarryTheSlackInputs() {
    PagePool pool = new PagePool(fx.memory, 1024 * EngineFixture.PAGE, 0);
    pool.reserveWeights("m", 3 * EngineFixture.PAGE + 1);
    pool.setLimits("m", 4, Integer.MAX_VALUE);
    ModelEngine e = fx.engine("m", pool, OPTIONS);
    long arrival = fx.nowNanos;
    e.submit(new GenerationRequest("a", ModelEngineTest.prompt(1, 6), SamplingParams.greedy(20), arrival));
    fx.nowNanos += 5 * MS;
    e.step(); // prefill + first token at arrival + 5 ms
    fx.nowNanos += 5 * MS;
    e.step(); // second token
    assertEquals(fx.nowNanos, e.lastActivityNanos());
    assertEquals(1, e.inFlight());

    RunningSequenceInfo a = e.runningSequences().get(0);
    assertEquals(new RunningSequenceInfo("a", 8, 6, 2, arrival, true, arrival + 5 * MS, 1), a);
    Slo slo = Slo.ofMillis(1000, 20);
    fx.nowNanos += 7 * MS; // 12 ms after the first token; the third is due by 5 + 2 * 20 = 45 ms
    assertEquals(28 * MS, a.slackNanos(slo, fx.nowNanos));

    ModelMemory m = e.memory().modelMemory(slo, fx.nowNanos);
    assertEquals(new ModelMemory("m", slo, true, 4, 0, 0, 4, 0, 4, // not idle: a request is in flight
        List.of(new ModelMemory.RunningSequence("a", 4, 28 * MS))), m);
    assertEquals(e.inFlight(), e.memory().activity().inFlightRequests());
    e.close();
  }

  @Test
  void anEvictedModelsRequestsAreCheckedAgainstTheWeightBytesThePoolHeldNotTheBackendsCount() {
    // the host backend counts a packed copy of a shared classifier that the pool never reserved
    PagePool pool = new PagePool(fx.memory, 200 * EngineFixture.PAGE, 0);
    ModelEngine e = fx.engine("m", pool, OPTIONS);
    fx.lastBackend.weightBytes = 250 * EngineFixture.PAGE;
    assertTrue(pool.reserveWeights("m", 10 * EngineFixture.PAGE));
    e.evict();
    pool.releaseWeights("m");
    assertEquals(200, pool.capacityPages());
    GenerationRequest r = EngineFixture.request("r", ModelEngineTest.prompt(8, 14), 8, 21);
    assertEquals(null, e.check(r), "190 pages are left after the 10 weight pages come back");
    e.close();
  }

  @Test
  void evictAndActivateRoundTripGivesIdenticalOutput() {
    GenerationRequest before = EngineFixture.request("before", ModelEngineTest.prompt(8, 14), 25, 21);
    GenerationRequest after = EngineFixture.request("after", ModelEngineTest.prompt(8, 14), 25, 21);
    PagePool pool = new PagePool(fx.memory, 200 * EngineFixture.PAGE, 0);
    ModelEngine e = fx.engine("m", pool, OPTIONS);
    fx.lastBackend.weightBytes = 10 * EngineFixture.PAGE;
    assertTrue(pool.reserveWeights("m", e.weightBytes()));
    EngineHarness h = new EngineHarness();
    h.expect("before");
    e.submit(before);
    h.accept(e.step());
    assertThrows(IllegalStateException.class, e::evict, "a request is in flight");
    h.runToEnd(e, pool);
    assertTrue(e.pageIdsHeld() > 0, "cached blocks and a kept page id");

    e.evict();
    pool.releaseWeights("m");
    assertFalse(e.weightsResident());
    assertEquals(0, e.pageIdsHeld());
    assertEquals(0, pool.pagesHeldBy("m"));
    assertEquals(0, pool.reserveWantedBy("m"), "an evicted model wants no reserve");
    assertEquals(200, pool.capacityPages(), "the weights' pages are free for KV");
    assertEquals(0, e.pagesWanted());
    e.checkInvariants();
    pool.checkInvariants();

    h.expect("after");
    assertInstanceOf(Admission.Accepted.class, e.submit(after), "requests wait for activation");
    long stalled = e.stats().stalledSteps();
    assertTrue(e.step().isEmpty());
    assertEquals(stalled + 1, e.stats().stalledSteps(), "a stalled step, so the actor backs off");
    assertThrows(IllegalStateException.class, () -> fx.lastBackend.forward(new ForwardBatch(List.of()), new float[0][]));

    assertTrue(pool.reserveWeights("m", e.weightBytes()));
    e.activate();
    h.runToEnd(e, pool);
    assertEquals(h.results.get("before").tokens, h.results.get("after").tokens);
    assertEquals(h.results.get("before").text.toString(), h.results.get("after").text.toString());
    assertEquals(0, e.stats().cachedTokens(), "eviction dropped the prefix cache");
    assertEquals(1, e.stats().evictions());
    assertEquals(1, e.stats().activations());
    e.close();
  }

  @Test
  void aDecodeStepCreatesNoPageOnTheCriticalPathWhenTheReserveIsRefilledBetweenSteps() {
    assertEquals(0, criticalPathCreatesWhileDecoding(1), "one page id of reserve covers a decode step");
    assertTrue(criticalPathCreatesWhileDecoding(0) > 0, "the constructor's reserve of 2 pages never covers a page id of 4");
  }

  /** Four sequences (one page id holds 4 blocks: a step maps at most one page id); creates while decoding. */
  private long criticalPathCreatesWhileDecoding(int reservePageIds) {
    PagePool pool = new PagePool(fx.memory, 400 * EngineFixture.PAGE, 2);
    ModelEngine e = fx.engine("m", pool, OPTIONS.withReservePageIds(reservePageIds).withMaxRunningSequences(4));
    for (int i = 0; i < 4; i++) e.submit(EngineFixture.request("d" + i, ModelEngineTest.prompt(i, 3 + i), 60, i));
    pool.refillReserve();
    e.step(); // every prompt prefilled in the first step
    long before = pool.stats().criticalPathCreates();
    while (e.hasWork()) {
      pool.refillReserve(); // the GPU actor, between steps
      e.step();
    }
    long creates = pool.stats().criticalPathCreates() - before;
    e.close();
    pool.drainReserve();
    return creates;
  }

  @Test
  void prefillSpeedIsTimedOrFallsBackToTheDeterministicEstimate() {
    PagePool pool = new PagePool(fx.memory, 1024 * EngineFixture.PAGE, 0);
    ModelEngine e = fx.engine("m", pool, OPTIONS);
    double estimate = PrefillSpeed.estimate(ModelEngineTest.CONFIG, PrefillSpeed.FALLBACK_FLOPS_PER_SECOND);
    assertEquals(estimate, e.measurePrefillTokensPerSecond(), "the manual clock did not advance");
    assertEquals(0, e.usedBlocks(), "the blocks it borrowed are back");

    e.close();

    long[] ticks = {0};
    ModelEngine timed = fx.engine("t", pool, OPTIONS, () -> ticks[0] += MS); // every reading 1 ms later
    assertEquals(OPTIONS.prefillChunk() * 1000.0, timed.measurePrefillTokensPerSecond(), 1e-9, "8 tokens in 1 ms");
    timed.evict();
    assertEquals(estimate, timed.measurePrefillTokensPerSecond(), "evicted: nothing to time");
    timed.close();
  }

  @Test
  void prefillProbeTimesOnePassPerCallAndGivesItsBlocksBackWhenClosedEvenIfAbandoned() {
    PagePool pool = new PagePool(fx.memory, 1024 * EngineFixture.PAGE, 0);
    long[] ticks = {0};
    ModelEngine e = fx.engine("p", pool, OPTIONS, () -> ticks[0] += MS); // every reading 1 ms later: each pass takes 1 ms
    PrefillSpeed.Probe p = e.prefillProbe();
    assertTrue(e.usedBlocks() > 0, "it borrows the blocks of one prefill");
    int calls = 1;
    while (p.pass()) calls++;
    assertEquals(calls, p.passes(), "one pass per call");
    assertEquals(PrefillSpeed.MAX_PASSES, p.passes(), "1 ms passes never spend the 250 ms budget: capped");
    assertEquals(false, p.pass(), "no pass after the last");
    assertEquals(PrefillSpeed.MAX_PASSES, p.passes());
    assertEquals(OPTIONS.prefillChunk() * 1000.0, p.tokensPerSecond(), 1e-9);
    p.close();
    assertEquals(0, e.usedBlocks(), "the blocks it borrowed are back");

    PrefillSpeed.Probe abandoned = e.prefillProbe();
    assertTrue(abandoned.pass());
    abandoned.close();
    abandoned.close(); // idempotent
    assertEquals(0, e.usedBlocks(), "an abandoned probe gives its blocks back too");
    e.close();
  }
}
