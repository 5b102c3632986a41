package io.prism.runtime.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.policy.ModelMemory.RunningSequence;
import io.prism.runtime.policy.ReclaimAction.DropCachedBlocks;
import io.prism.runtime.policy.ReclaimAction.EvictWeights;
import io.prism.runtime.policy.ReclaimAction.PreemptDecode;
import io.prism.runtime.policy.ReclaimAction.ReclaimEmptyPages;
import io.prism.runtime.policy.ReclaimAction.TakeReserve;
import io.prism.runtime.policy.ReclaimPolicy.PoolState;
import io.prism.runtime.policy.ReclaimPolicy.Requester;
import java.util.List;
import org.junit.jupiter.api.Test;

class ReclaimPolicyTest {
  private static final long S = 1_000_000_000L;
  private static final long MS = 1_000_000L;
  private static final Slo LOOSE = Slo.ofMillis(2000, 100);
  private static final Slo MID = Slo.ofMillis(1000, 50);
  private static final Slo STRICT = Slo.ofMillis(500, 20);

  private static ModelMemory model(String id, Slo slo, int held, int empty, int cached, int min, long idleNanos, int weightPages,
      RunningSequence... running) {
    return new ModelMemory(id, slo, true, held, empty, cached, min, idleNanos, weightPages, List.of(running));
  }

  private final ReclaimPolicy policy = new ReclaimPolicy();

  @Test
  void freePagesAloneNeedNoAction() {
    ReclaimPlan plan = policy.plan(new Requester("r", MID, 3, false), new PoolState(5, 2), List.of());
    assertEquals(new ReclaimPlan.Granted(3, List.of(), 0), plan);
  }

  @Test
  void takesReserveThenEmptyPagesThenCachedBlocksOnlyAsFarAsNeeded() {
    // needs 10, free 2 -> 8 missing: reserve 3, empty a 2 + b 1, then 2 of a's 3 cached pages.
    List<ModelMemory> models = List.of(
        model("b", STRICT, 4, 1, 0, 0, 0, 10, new RunningSequence("b1", 3, 0)),
        model("a", LOOSE, 6, 2, 3, 0, S, 20, new RunningSequence("a1", 1, 10 * MS)));
    ReclaimPlan plan = policy.plan(new Requester("r", MID, 10, true), new PoolState(2, 3), models);
    assertEquals(new ReclaimPlan.Granted(2, List.of(new TakeReserve(3), new ReclaimEmptyPages("a", 2),
        new ReclaimEmptyPages("b", 1), new DropCachedBlocks("a", 2)), 8), plan);
  }

  @Test
  void evictsIdleModelsLongestIdleFirstBeforePreemptingAndNeverPreemptsAStricterSlo() {
    List<ModelMemory> models = List.of(
        model("a", LOOSE, 4, 0, 0, 0, 0, 30, new RunningSequence("a1", 2, 50 * MS), new RunningSequence("a2", 2, 5 * MS)),
        model("b", STRICT, 4, 0, 0, 0, 0, 30, new RunningSequence("b1", 4, 500 * MS)),
        model("c", STRICT, 3, 3, 0, 0, 60 * S, 10),
        model("d", LOOSE, 0, 0, 0, 0, 50 * S, 5),
        model("e", LOOSE, 0, 0, 0, 0, 30 * S, 50)); // idle under 45 s: kept
    // 20 pages: c's 3 empty pages; evict c (10 weights + 0 KV left) -> 13; evict d (5) -> 18;
    // preempt a1 (most slack among eligible; b1 is stricter) -> 20.
    ReclaimPlan plan = policy.plan(new Requester("r", MID, 20, true), new PoolState(0, 0), models);
    assertEquals(new ReclaimPlan.Granted(0, List.of(new ReclaimEmptyPages("c", 3), new EvictWeights("c", 10),
        new EvictWeights("d", 5), new PreemptDecode("a", "a1", 2, 50 * MS)), 20), plan);

    // Without permission to preempt only 18 pages are reachable.
    ReclaimPlan noPreempt = policy.plan(new Requester("r", MID, 20, false), new PoolState(0, 0), models);
    assertEquals(18, assertInstanceOf(ReclaimPlan.Insufficient.class, noPreempt).pagesAvailable());

    // 24 pages would need b1 (4 pages) but b is stricter: 22 reachable, nothing is done.
    ReclaimPlan.Insufficient tooMuch = assertInstanceOf(ReclaimPlan.Insufficient.class,
        policy.plan(new Requester("r", MID, 24, true), new PoolState(0, 0), models));
    assertEquals(22, tooMuch.pagesAvailable());
    assertTrue(tooMuch.reason().contains("preemptable 4"), tooMuch.reason());

    // A requester with b's own SLO class may preempt b1.
    ReclaimPlan strictRequester = policy.plan(new Requester("r", STRICT, 24, true), new PoolState(0, 0), models);
    assertInstanceOf(ReclaimPlan.Granted.class, strictRequester);
  }

  @Test
  void ownCachedBlocksGoFirstThenLoosestSloFirst() {
    List<ModelMemory> models = List.of(
        model("y", STRICT, 5, 0, 5, 0, 0, 1),
        model("x", LOOSE, 1, 0, 1, 0, 0, 1),
        model("r", MID, 2, 0, 2, 0, 0, 1));
    ReclaimPlan plan = policy.plan(new Requester("r", MID, 4, false), new PoolState(0, 0), models);
    assertEquals(new ReclaimPlan.Granted(0, List.of(new DropCachedBlocks("r", 2), new DropCachedBlocks("x", 1),
        new DropCachedBlocks("y", 1)), 4), plan);
  }

  @Test
  void neverTakesAModelBelowItsMinimumShortOfEvictingIt() {
    // a holds 5 empty pages but keeps a minimum of 3: only 2 are reclaimable.
    List<ModelMemory> models = List.of(model("a", LOOSE, 5, 5, 0, 3, 0, 8));
    ReclaimPlan.Insufficient p = assertInstanceOf(ReclaimPlan.Insufficient.class,
        policy.plan(new Requester("r", MID, 3, true), new PoolState(0, 0), models));
    assertEquals(2, p.pagesAvailable());
    // Once idle past the threshold it is evicted whole: 2 empty pages, then 8 weights + 3 remaining KV pages.
    List<ModelMemory> idle = List.of(model("a", LOOSE, 5, 5, 0, 3, 45 * S, 8));
    assertEquals(new ReclaimPlan.Granted(0, List.of(new ReclaimEmptyPages("a", 2), new EvictWeights("a", 11)), 13),
        policy.plan(new Requester("r", MID, 3, true), new PoolState(0, 0), idle));
  }

  @Test
  void rejectsInconsistentState() {
    assertThrows(IllegalArgumentException.class, () -> model("a", LOOSE, 2, 2, 1, 0, 0, 0));
    assertThrows(IllegalArgumentException.class, () -> new Requester("r", MID, 0, false));
    assertThrows(IllegalArgumentException.class,
        () -> policy.plan(new Requester("r", MID, 1, false), new PoolState(0, 0), List.of(model("a", LOOSE, 0, 0, 0, 0, 0, 0),
            model("a", LOOSE, 0, 0, 0, 0, 0, 0))));
  }

  @Test
  void residencyLimitEvictsTheQuietResidentForWeightsEvenWhenFreePagesWouldDo() {
    ReclaimPolicy oneResident = new ReclaimPolicy(java.time.Duration.ZERO, 1);
    // 100 free pages cover the 10 weight pages, but a is resident and the GPU holds one model
    ModelMemory a = model("a", MID, 4, 4, 0, 0, 3 * MS, 10);
    ReclaimPlan plan = oneResident.plan(new Requester("b", MID, 10, false, true), new PoolState(100, 0), List.of(a));
    ReclaimPlan.Granted g = assertInstanceOf(ReclaimPlan.Granted.class, plan);
    assertEquals(List.of(new EvictWeights("a", 14)), g.actions());
    // the same ask for KV pages (not weights) is unaffected by the limit
    assertEquals(new ReclaimPlan.Granted(10, List.of(), 0), oneResident.plan(new Requester("b", MID, 10, false), new PoolState(100, 0), List.of(a)));
    // without a limit nothing is evicted
    assertEquals(new ReclaimPlan.Granted(10, List.of(), 0),
        new ReclaimPolicy(java.time.Duration.ZERO).plan(new Requester("b", MID, 10, false, true), new PoolState(100, 0), List.of(a)));
  }

  @Test
  void residencyLimitRefusesWhileTheResidentIsBusyAndKeepsTheLimitOfTwo() {
    ReclaimPolicy oneResident = new ReclaimPolicy(java.time.Duration.ZERO, 1);
    ModelMemory busy = model("a", LOOSE, 4, 0, 0, 0, 0, 10, new RunningSequence("a1", 4, S));
    ReclaimPlan plan = oneResident.plan(new Requester("b", STRICT, 10, true, true), new PoolState(100, 5), List.of(busy));
    ReclaimPlan.Insufficient no = assertInstanceOf(ReclaimPlan.Insufficient.class, plan);
    assertTrue(no.reason().contains("at most 1 resident"), no.reason());

    // two may be resident: of three, the longest idle one goes; an evicted model does not count
    ReclaimPolicy twoResident = new ReclaimPolicy(java.time.Duration.ofMillis(10), 2);
    ModelMemory x = model("x", MID, 2, 2, 0, 0, 50 * MS, 8);
    ModelMemory y = model("y", MID, 0, 0, 0, 0, 80 * MS, 8);
    ModelMemory gone = new ModelMemory("z", MID, false, 0, 0, 0, 0, 900 * MS, 8, List.of());
    ReclaimPlan.Granted g = assertInstanceOf(ReclaimPlan.Granted.class,
        twoResident.plan(new Requester("w", MID, 8, false, true), new PoolState(50, 0), List.of(x, y, gone)));
    assertEquals(List.of(new EvictWeights("y", 8)), g.actions());
    // one idle too short (5 ms < 10 ms) beside a busy one: refused
    ModelMemory fresh = model("f", MID, 0, 0, 0, 0, 5 * MS, 8);
    assertInstanceOf(ReclaimPlan.Insufficient.class,
        twoResident.plan(new Requester("w", MID, 8, false, true), new PoolState(50, 0), List.of(fresh, busy)));
  }
}
