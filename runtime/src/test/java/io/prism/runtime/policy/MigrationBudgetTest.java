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
}
