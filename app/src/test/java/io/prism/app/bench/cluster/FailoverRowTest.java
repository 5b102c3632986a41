package io.prism.app.bench.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.app.bench.cluster.RequestRecord.Outcome;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The columns of a failover row from hand-made request records (no processes). */
class FailoverRowTest {
  private static final long S = 1_000_000_000L;
  private static final long EVENT = 100 * S;

  private static RequestRecord r(String model, double sentSeconds, double endSeconds, Outcome o) {
    return new RequestRecord(model, "node0", EVENT + (long) (sentSeconds * S), EVENT + (long) (endSeconds * S), o, o == Outcome.OK ? 200 : 503,
        o == Outcome.OK ? "" : "down");
  }

  @Test
  void countsOutcomesAndUnaffectedFailuresAndTimesRecoveryFromTheEvent() {
    List<RequestRecord> rs = new ArrayList<>(List.of(
        r("a", -2, -1.5, Outcome.OK), // affected, before the event: not part of recovery
        r("b", -1, -0.5, Outcome.OK),
        r("a", 1, 16, Outcome.HUNG),
        r("b", 1.5, 2, Outcome.FAILED), // unaffected model failed
        r("a", 3, 3.5, Outcome.FAILED),
        r("a", 5, 6.25, Outcome.OK), // first success ends at 6.25 s
        r("a", 7, 7.5, Outcome.FAILED), // the last failure of an affected model
        r("a", 9, 9.5, Outcome.OK), // steady from its send time, 9 s
        r("a", 11, 11.5, Outcome.OK),
        new RequestRecord("b", "node1", EVENT + 12 * S, EVENT + 15 * S, Outcome.OK, 200, "", 2))); // served on the client's retry
    FailoverRow row = FailoverRow.of("kill", "node2", rs, Set.of("a"), false, EVENT, true, "");
    assertEquals(10, row.sent());
    assertEquals(6, row.ok());
    assertEquals(1, row.retried(), "the ok one that needed a retry");
    assertEquals(3, row.failed());
    assertEquals(1, row.hung());
    assertEquals(1, row.unaffectedFailed());
    assertEquals(6.25, row.firstOkSeconds(), 1e-9);
    assertEquals(9.0, row.steadySeconds(), 1e-9);
    assertEquals(4, row.failures().values().stream().mapToInt(Integer::intValue).sum());
    assertTrue(row.line().startsWith("kill"), row.line());
  }

  @Test
  void neverRecoversWhenTheLastAffectedRequestFailsAndSteadyIsZeroWithoutFailures() {
    FailoverRow never = FailoverRow.of("kill", "n", List.of(r("a", 1, 2, Outcome.OK), r("a", 2, 17, Outcome.HUNG)), Set.of("a"), false, EVENT,
        false, "");
    assertTrue(Double.isNaN(never.steadySeconds()));
    assertEquals(2.0, never.firstOkSeconds(), 1e-9);
    assertTrue(never.line().contains("never") && never.line().contains("BROKEN"), never.line());
    FailoverRow clean = FailoverRow.of("sigterm", "n", List.of(r("a", 1, 2, Outcome.OK), r("b", 2, 3, Outcome.OK)), Set.of("a"), false, EVENT,
        true, "");
    assertEquals(0.0, clean.steadySeconds(), 1e-9);
    assertFalse(clean.line().contains("never"), clean.line());
  }

  @Test
  void rollingRestartHasNoUnaffectedColumn() {
    FailoverRow row = FailoverRow.of("rolling", "all", List.of(r("a", 1, 2, Outcome.FAILED)), Set.of("a"), true, EVENT, true, "");
    assertEquals(-1, row.unaffectedFailed());
    assertEquals(1, row.failed());
  }
}
