package io.prism.runtime.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MigrationBudgetTest {
  private static final long S = 1_000_000_000L;

  private static Move move(String id, int from, int to) {
    return new Move(id, List.of(from), List.of(to), "test");
  }

  @Test
  void cooldownKeepsAModelFromMovingTwiceWithinIt() {
    MigrationBudget b = new MigrationBudget(new MigrationBudget.Limits(Duration.ofSeconds(60), 4, 4));
    Move m = move("a", 0, 1);
    assertEquals(List.of(m), b.admit(List.of(m), 0));
    b.started(m, 0);
    b.finished(m);
    Move back = move("a", 1, 0);
    assertTrue(b.admit(List.of(back), 59 * S).isEmpty());
    assertTrue(b.coolingDown("a", 59 * S));
    assertEquals(List.of(back), b.admit(List.of(back), 60 * S));
  }

  @Test
  void aGpuTakesPartInAtMostItsBudgetOfMigrationsAtOnce() {
    MigrationBudget b = new MigrationBudget(new MigrationBudget.Limits(Duration.ZERO, 1, 10));
    Move a = move("a", 0, 1);
    Move c = move("c", 2, 1); // same target as a
    Move d = move("d", 2, 3);
    assertEquals(List.of(a, d), b.admit(List.of(a, c, d), 0));
    b.started(a, 0);
    assertEquals(1, b.inFlight(0));
    assertEquals(List.of(d), b.admit(List.of(c, d), 0));
    b.finished(a);
    assertEquals(0, b.inFlight(1));
    assertEquals(List.of(c), b.admit(List.of(c), 0));
  }

  @Test
  void aRoundStartsAtMostMaxPerRoundHottestSourceFirstAndPlacementsAlwaysPass() {
    MigrationBudget b = new MigrationBudget(new MigrationBudget.Limits(Duration.ZERO, 10, 2));
    Move cool = move("cool", 0, 5);
    Move warm = move("warm", 1, 6);
    Move hot = move("hot", 2, 7);
    Move place = new Move("new", List.of(), List.of(4), "place");
    List<Move> got = b.admit(List.of(cool, place, warm, hot), 0, Map.of(0, 1.0, 1, 2.0, 2, 3.0));
    assertEquals(List.of(hot, warm, place), got);
    assertFalse(got.contains(cool));
    assertEquals(1, b.refusedCount());
  }

  @Test
  void unboundedAdmitsEverything() {
    MigrationBudget b = new MigrationBudget(MigrationBudget.Limits.UNBOUNDED);
    List<Move> all = List.of(move("a", 0, 1), move("b", 0, 1), move("c", 1, 0));
    assertEquals(all, b.admit(all, 0));
  }

  @Test
  void aTightBudgetGoesToTheMovesThatLowerKvprMostAndSkipsMovesThatDoNotPayAlone() {
    // GPU 0 is hot (a: 400, b: 100), GPU 1 cool (c: 10), GPU 2 warm (d: 200); 10 GB each, 1 GB weights per model
    long gb = 1_000_000_000L;
    java.time.Duration tpot = java.time.Duration.ofMillis(50);
    List<ModelDemand> demands = List.of(ModelDemand.of("a", 400, 1000, tpot, gb, 0), ModelDemand.of("b", 100, 1000, tpot, gb, 0),
        ModelDemand.of("c", 10, 1000, tpot, gb, 1), ModelDemand.of("d", 200, 1000, tpot, gb, 2));
    List<GpuCapacity> gpus = List.of(new GpuCapacity(0, 10 * gb), new GpuCapacity(1, 10 * gb), new GpuCapacity(2, 10 * gb));
    Move bToOne = new Move("b", List.of(0), List.of(1), "t");
    Move aToOne = new Move("a", List.of(0), List.of(1), "t");
    Move dToZero = new Move("d", List.of(2), List.of(0), "t"); // onto the hot GPU: pays only if a left it too
    Move cToTwo = new Move("c", List.of(1), List.of(2), "t");
    MigrationBudget oneMove = new MigrationBudget(new MigrationBudget.Limits(java.time.Duration.ZERO, 1, 1));
    // KVPR (demand / KV bytes): GPU 0 1.25e-3, GPU 1 2.2e-5, GPU 2 4.4e-4. Moving b to GPU 1 leaves 8.9e-4 as the larger
    // of the pair; moving a (the larger demand, first in Algorithm 1's order) leaves 1.0e-3 on GPU 1; d onto GPU 0 and c onto GPU 2 raise it
    List<Move> one = oneMove.admitByReduction(List.of(dToZero, aToOne, bToOne, cToTwo), 0, demands, gpus);
    assertEquals(List.of("b"), one.stream().map(Move::modelId).toList(), "the move that lowers the hotter GPU of its pair most");
    MigrationBudget twoPerGpu = new MigrationBudget(new MigrationBudget.Limits(java.time.Duration.ZERO, 2, 4));
    List<Move> more = twoPerGpu.admitByReduction(List.of(dToZero, aToOne, bToOne, cToTwo), 0, demands, gpus);
    assertEquals(List.of("b"), more.stream().map(Move::modelId).toList(),
        "after b moved, a onto GPU 1 would make it the hot one, and d or c raise their pair: none is made although the budget allows it");
    assertEquals(3, twoPerGpu.refusedCount());
    assertEquals(List.of(bToOne, aToOne, dToZero, cToTwo), new MigrationBudget(MigrationBudget.Limits.UNBOUNDED)
        .admitByReduction(List.of(dToZero, bToOne, aToOne, cToTwo), 0, demands, gpus), "unbounded: every proposed move passes, hottest source first");
  }
}
