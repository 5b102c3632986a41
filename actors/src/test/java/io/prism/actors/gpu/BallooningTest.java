package io.prism.actors.gpu;

import io.prism.actors.TestSupport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.engine.FinishReason;
import io.prism.runtime.model.ModelLoader;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Two stories260K instances on one host GPU whose KV budget is far below what their bursts want
 * (issue 5): A (loose SLO) bursts while B (strict SLO) idles, and A's KV grows into the memory B is
 * not using (B's cached blocks and kept page ids are reclaimed); then B bursts while A is still busy
 * and memory flows back to B, by reclaim, by preempting A's decodes (never B's) and by A starting no
 * new sequences while B's prefills are at risk, within a bounded number of B's engine steps. Page conservation is checked after every step and every reclaim
 * action ({@code prism.gpu.check-invariants}); every request ends exactly once and completes.
 */
class BallooningTest {
  /** 4 KiB pages: a stories260K page id is 10 pages (5 layers, K and V) holding 2 blocks, 32 tokens. */
  private static final int KV_PAGES = 300;

  private GpuFixture fx;

  static long weightBytes() {
    return ModelLoader.load(TestSupport.model(GpuFixture.STORIES).toString(), null).config().parameterCount() * Float.BYTES;
  }

  @BeforeEach
  void start() {
    long budget = 2 * weightBytes() + KV_PAGES * GpuFixture.PAGE_BYTES + GpuFixture.PAGE_BYTES - 1;
    fx = new GpuFixture("ballooning-test", budget, "prism.gpu.deadline-admission = off\nprism.gpu.reclaim-retry = 0ms\n"); // its subject is memory flow, not admission;
    // no wall-clock back-off after a refused reclaim, so the bound in B's steps does not depend on how fast the JIT runs the steps
    fx.load("a", 10_000, 1_000);
    fx.load("b", 100, 50);
  }

  @AfterEach
  void stop() {
    fx.close();
  }

  private static int held(StepTrace.Sample s, String model) {
    return s.pagesHeld().getOrDefault(model, 0);
  }

  @Test
  void burstingModelGrowsIntoIdleNeighboursMemoryAndMemoryFlowsBackWhenTheNeighbourBursts() {
    // B served one request: it keeps its prefix-cached blocks and an empty page id
    fx.awaitEnded(List.of(fx.send("b", "b-warm", "Once upon a time there was a cat", 60)));
    GpuStatus warm = fx.status();
    assertTrue(warm.model("b").pagesHeld() > 0, "B keeps pages after its request: " + warm.model("b"));

    // Phase 1: A bursts (16 x 250 tokens want ~1300 pages of the 300), B idles
    List<String> aIds = new ArrayList<>();
    for (int i = 0; i < 16; i++) aIds.add(fx.send("a", "a-" + i, "Once upon a time", 250));
    fx.awaitStatus("A grows into B's memory", s -> s.model("a").pagesHeld() >= KV_PAGES - 60 && s.model("b").pagesHeld() == 0);

    // Phase 2: B bursts while A is still busy
    GpuStatus atBurst = fx.status();
    List<StepTrace.Sample> before = fx.trace().samples();
    long burstSeq = before.get(before.size() - 1).seq();
    assertTrue(atBurst.model("a").waiting() + atBurst.model("a").running() + atBurst.model("a").books().queued() > 0, "A is still busy");
    List<String> bIds = new ArrayList<>();
    for (int i = 0; i < 8; i++) bIds.add(fx.send("b", "b-" + i, "The little dog", 250));
    fx.awaitEnded(bIds);
    fx.awaitEnded(aIds);
    for (String id : aIds) assertEquals(FinishReason.LENGTH, fx.completed(id).reason(), id);
    for (String id : bIds) assertEquals(FinishReason.LENGTH, fx.completed(id).reason(), id);

    // The trace: A's peak with B at zero; after B's first step of its burst, B holds half the KV within a bounded number of steps
    List<StepTrace.Sample> trace = fx.trace().samples();
    int aPeak = 0;
    int burst = -1;
    int flowedBack = -1;
    int bSteps = 0;
    for (int i = 0; i < trace.size(); i++) {
      StepTrace.Sample s = trace.get(i);
      if (burst < 0) aPeak = Math.max(aPeak, held(s, "a"));
      if (burst < 0 && s.modelId().equals("b") && s.seq() > burstSeq) burst = i;
      if (burst >= 0 && flowedBack < 0 && s.modelId().equals("b")) bSteps++;
      if (burst >= 0 && flowedBack < 0 && held(s, "b") >= KV_PAGES / 2) flowedBack = bSteps;
    }
    GpuStatus end = fx.assertQuiescentAndConserved();
    System.out.println("ballooning: A peak " + aPeak + " of " + KV_PAGES + " KV pages; B held half the KV after " + flowedBack
        + " of its steps; A " + end.model("a") + "; B " + end.model("b"));
    end.events().forEach(e -> System.out.println("  " + e.kind() + " " + e.modelId() + ": " + e.detail()));
    assertTrue(aPeak >= KV_PAGES - 60, "A grew into B's memory: peak " + aPeak);
    assertTrue(burst > 0, "B's burst is in the trace");
    // Bound, in B's own steps: the lifetime of one of A's sequences (250 tokens: its pages come back when it ends,
    // and meanwhile B's at-risk prefills and its decodes preempt A's and A starts no new sequence), plus the decode
    // steps B's 8 sequences need to hold half the KV (15 page ids of 32 tokens); 2 x 250 covers both.
    assertTrue(flowedBack >= 0 && flowedBack <= 2 * 250, "memory flowed back to B within 500 of its steps, took " + flowedBack);
    assertTrue(end.model("a").books().preempted() > 0, "B's reclaims preempted the looser A's decodes");
    assertTrue(end.model("b").books().pagesReclaimed() > 0, "B's kept pages were reclaimed for A");
    assertTrue(end.model("a").books().pagesReclaimed() > 0, "A's pages were reclaimed for B");
    assertEquals(0, end.model("b").books().preempted(), "the stricter B is never preempted for A");
  }
}
