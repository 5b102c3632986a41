package io.prism.runtime.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.memory.PagePool;
import io.prism.runtime.policy.Slo;
import io.prism.runtime.sampling.SamplingParams;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Two models on one host "GPU" sharing one page pool (issue 5), driven by {@link GpuHarness} in the
 * GPU actor's role with {@code ReclaimPolicy}: A bursts while B idles and A's KV grows into the
 * memory B is not using; then B bursts and memory flows back; later A idles past the threshold, is
 * evicted, B grows into its weights' memory, and a request for A reactivates it through reclaim. Page conservation is checked after every step and
 * every reclaim action; every output equals what the request gives alone.
 */
class TwoModelBallooningTest {
  private static final long MS = 1_000_000L;
  private static final int WEIGHT_PAGES = 8;
  private static final int KV_PAGE_IDS = 12; // 48 pages, 4 per page id
  private static final Slo LOOSE = Slo.ofMillis(2000, 100);
  private static final Slo STRICT = Slo.ofMillis(1000, 50);

  private final EngineFixture fx = new EngineFixture();
  private final PagePool pool = new PagePool(fx.memory, (2L * WEIGHT_PAGES + 4L * KV_PAGE_IDS) * EngineFixture.PAGE, 2);
  private final GpuHarness gpu = new GpuHarness(pool, fx.clock, Duration.ofSeconds(45));
  private final List<GenerationRequest> all = new ArrayList<>();

  private ModelEngine model(String id, Slo slo) {
    ModelEngine e = fx.engine(id, pool, ModelEngineTest.OPTIONS);
    fx.lastBackend.weightBytes = WEIGHT_PAGES * EngineFixture.PAGE;
    assertTrue(pool.reserveWeights(id, e.weightBytes()));
    gpu.add(e, slo);
    return e;
  }

  private void submit(String model, int i, int promptTokens, int maxTokens) {
    GenerationRequest r = new GenerationRequest(model + i, ModelEngineTest.prompt(model.hashCode() * 100L + i, promptTokens),
        new SamplingParams(0.8f, 1f, 0, 7L * i + model.length(), maxTokens, List.of(), true), fx.nowNanos);
    all.add(r);
    gpu.submit(model, r);
  }

  private void tick() {
    fx.nowNanos += 10 * MS;
    gpu.tick();
  }

  @Test
  void memoryFlowsToTheBurstingModelAndBackAndAnIdleModelIsEvictedAndReactivated() {
    ModelEngine a = model("a", LOOSE);
    ModelEngine b = model("b", STRICT);

    // B served a request earlier: it keeps cached blocks and an empty page id
    submit("b", 0, 18, 10);
    gpu.runToEnd(100);
    assertTrue(b.pageIdsHeld() > 0);
    assertEquals(b.pageIdsHeld(), b.cachedPageIds() + b.emptyPageIds());

    // Phase 1: A bursts, B idles. A's demand (10 x ~54 tokens ~ 35 page ids) exceeds the GPU
    for (int i = 0; i < 10; i++) submit("a", i, 14 + i, 40);
    int peakA = 0;
    int bAtPeak = -1;
    for (int t = 0; t < 30; t++) {
      tick();
      if (a.pageIdsHeld() > peakA) {
        peakA = a.pageIdsHeld();
        bAtPeak = b.pageIdsHeld();
      }
    }
    assertEquals(KV_PAGE_IDS, peakA, "A grew into every KV page, B's included");
    assertEquals(0, bAtPeak, "B's cached and empty page ids were reclaimed for A");
    assertTrue(gpu.actionCounts.getOrDefault("DropCachedBlocks", 0) + gpu.actionCounts.getOrDefault("ReclaimEmptyPages", 0) > 0);
    assertTrue(a.hasWork(), "A is still busy when B's burst arrives");

    // Phase 2: B bursts while A still runs; B's SLO is stricter, so it may preempt A's decodes
    int burstTick = gpu.ticks;
    for (int i = 1; i <= 6; i++) submit("b", i, 10 + i, 30);
    int flowedBack = -1;
    for (int t = 0; t < 400 && (a.hasWork() || b.hasWork()); t++) {
      tick();
      if (flowedBack < 0 && b.pageIdsHeld() >= KV_PAGE_IDS / 2) flowedBack = gpu.ticks - burstTick;
    }
    assertFalse(a.hasWork() || b.hasWork());
    System.out.println("ballooning: A peak " + peakA + " page ids; B back to half the KV after " + flowedBack + " ticks; actions "
        + gpu.actionCounts + "; A " + a.stats() + "; B " + b.stats());
    // bound: no longer than one of A's running sequences takes to finish (max_tokens 40 decode steps)
    assertTrue(flowedBack >= 0 && flowedBack <= 40, "B got half the KV memory within 40 ticks of its burst, took " + flowedBack);
    assertTrue(gpu.actionCounts.getOrDefault("PreemptDecode of a for b", 0) > 0, "B preempted A's decodes");
    assertEquals(0, gpu.actionCounts.getOrDefault("PreemptDecode of b for a", 0), "the stricter B is never preempted for A");

    // Phase 3: A idles past the threshold and is evicted while B gets a new burst, which grows into
    // the memory A's weights left; a request for A then waits until reclaim makes room for its weights
    fx.nowNanos += Duration.ofSeconds(46).toNanos();
    for (int i = 10; i < 16; i++) submit("b", i, 12 + i, 30);
    tick();
    assertFalse(a.weightsResident(), "A was idle for 46 s");
    assertTrue(b.weightsResident());
    assertEquals(KV_PAGE_IDS * 4 + WEIGHT_PAGES, pool.capacityPages(), "A's weight pages are KV pages now");
    int peakB = 0;
    for (int t = 0; t < 15; t++) {
      tick();
      peakB = Math.max(peakB, b.pageIdsHeld());
    }
    assertEquals(KV_PAGE_IDS + WEIGHT_PAGES / 4, peakB, "B grew into the pages A's weights left");
    int logBefore = gpu.log.size();
    submit("a", 99, 14, 40);
    assertFalse(a.weightsResident(), "no room for A's weights while B's sequences use every page");
    gpu.runToEnd(400);
    assertEquals(1, a.stats().evictions());
    assertEquals(1, a.stats().activations());
    List<String> activation = gpu.log.subList(logBefore, gpu.log.size());
    assertTrue(activation.stream().anyMatch(l -> l.contains("for a: DropCachedBlocks[modelId=b")), "B's cached blocks made room: " + activation);
    assertTrue(activation.stream().anyMatch(l -> l.endsWith("activated a")));

    // Every request completed with the output it gives alone
    gpu.events.assertAllFinished();
    Map<String, EngineHarness.Result> alone = fx.alone(all);
    EngineFixture.assertSameOutputs(alone, gpu.events.results);
    a.close();
    b.close();
    pool.releaseWeights("a");
    pool.releaseWeights("b");
    assertEquals(0, pool.heldPages());
    pool.drainReserve();
    assertEquals(0, fx.memory.livePages());
  }
}
