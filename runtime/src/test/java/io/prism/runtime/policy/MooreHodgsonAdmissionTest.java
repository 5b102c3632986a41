package io.prism.runtime.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class MooreHodgsonAdmissionTest {
  /** Prefill speed 1e9 tokens/s: estimated prefill = prompt tokens, in nanoseconds. */
  private static final double ONE_TOKEN_PER_NANO = 1e9;

  private static QueuedRequest req(String id, long arrival, long deadline, int prefillNanos) {
    return new QueuedRequest(id, "m", arrival, deadline, prefillNanos, ONE_TOKEN_PER_NANO);
  }

  private static List<String> ids(List<QueuedRequest> rs) {
    return rs.stream().map(QueuedRequest::requestId).toList();
  }

  @Test
  void estimatesPrefillFromPromptTokensAndModelSpeed() {
    assertEquals(500_000_000L, new QueuedRequest("r", "m", 0, 10, 1000, 2000).estimatedPrefillNanos());
    assertEquals(333_333_334L, new QueuedRequest("r", "m", 0, 10, 1, 3).estimatedPrefillNanos());
  }

  @Test
  void dropsTheLongestAdmittedRequestWhenTheNewestWouldMiss() {
    // EDF: j1 ends 4 <= 6, j2 ends 7 <= 7, j3 ends 9 > 8 -> drop j1 (4, the longest) -> j3 ends 5.
    var result = MooreHodgsonAdmission.admit(List.of(req("j3", 0, 8, 2), req("j1", 0, 6, 4), req("j2", 0, 7, 3)), 0, 0);
    assertEquals(List.of("j2", "j3"), ids(result.admitted()));
    assertEquals(1, result.dropped().size());
    // j1 alone would end at 4 <= 6: it can still make it, so it is deferred, not rejected.
    assertInstanceOf(MooreHodgsonAdmission.Drop.Deferred.class, result.dropped().get(0));
    assertEquals(List.of("j1"), ids(result.deferred()));
    assertTrue(result.rejected().isEmpty());
  }

  @Test
  void rejectsARequestThatCannotMeetItsDeadlineEvenAloneAfterCommittedWork() {
    // now 100, committed 5: machine free at 105. late: 105 + 4 > 108. ok: 105 + 4 <= 120.
    var result = MooreHodgsonAdmission.admit(List.of(req("late", 100, 108, 4), req("ok", 100, 120, 4)), 100, 5);
    assertEquals(List.of("ok"), ids(result.admitted()));
    assertEquals(1, result.rejected().size());
    assertEquals("late", result.rejected().get(0).request().requestId());
    assertTrue(result.rejected().get(0).reason().contains("deadline"), result.rejected().get(0).reason());
  }

  @Test
  void equalCostTiesDropTheLaterRequestInDeadlineOrder() {
    // Same deadline 5 and cost 3; a arrived first. a ends 3, b ends 6 > 5: drop the later one, b.
    var result = MooreHodgsonAdmission.admit(List.of(req("b", 1, 5, 3), req("a", 0, 5, 3)), 0, 0);
    assertEquals(List.of("a"), ids(result.admitted()));
    assertEquals(List.of("b"), ids(result.deferred()));
  }

  @Test
  void requestsWithoutDeadlineAreNeverDroppedAndGoLast() {
    var result = MooreHodgsonAdmission.admit(List.of(req("free", 0, QueuedRequest.NO_DEADLINE, 1_000_000), req("tight", 0, 10, 5)), 0, 0);
    assertEquals(List.of("tight", "free"), ids(result.admitted()));
    assertTrue(result.dropped().isEmpty());
  }

  @Test
  void rejectsBadArguments() {
    assertThrows(IllegalArgumentException.class, () -> MooreHodgsonAdmission.admit(List.of(), 0, -1));
    assertThrows(IllegalArgumentException.class, () -> MooreHodgsonAdmission.admit(List.of(req("a", 0, 5, 1), req("a", 0, 6, 1)), 0, 0));
    assertThrows(IllegalArgumentException.class, () -> req("a", 10, 5, 1));
    assertThrows(IllegalArgumentException.class, () -> new QueuedRequest("a", "m", 0, 5, 0, 1));
    assertThrows(IllegalArgumentException.class, () -> new QueuedRequest("a", "m", 0, 5, 1, 0));
  }

  /** A set is on time iff running it in deadline order from {@code start} meets every deadline. */
  private static boolean onTime(List<QueuedRequest> set, long start) {
    List<QueuedRequest> order = new ArrayList<>(set);
    order.sort(MooreHodgsonAdmission.DEADLINE_ORDER);
    long t = start;
    for (QueuedRequest r : order) {
      t += r.estimatedPrefillNanos();
      if (t > r.ttftDeadlineNanos()) return false;
    }
    return true;
  }

  @Test
  void admitsAMaximumSizeOnTimeSetOnRandomInstances() {
    Random rnd = new Random(2505_04021L);
    for (int instance = 0; instance < 2000; instance++) {
      int n = 1 + rnd.nextInt(8);
      long now = rnd.nextInt(20);
      long committed = rnd.nextInt(4) == 0 ? rnd.nextInt(10) : 0;
      List<QueuedRequest> queue = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        long arrival = rnd.nextInt(20);
        long deadline = rnd.nextInt(10) == 0 ? QueuedRequest.NO_DEADLINE : arrival + rnd.nextInt(40);
        queue.add(req("r" + i, arrival, deadline, 1 + rnd.nextInt(12)));
      }
      long start = now + committed;
      var result = MooreHodgsonAdmission.admit(queue, now, committed);

      int best = 0;
      for (int mask = 0; mask < (1 << n); mask++) {
        List<QueuedRequest> subset = new ArrayList<>();
        for (int i = 0; i < n; i++) if ((mask & (1 << i)) != 0) subset.add(queue.get(i));
        if (subset.size() > best && onTime(subset, start)) best = subset.size();
      }
      String ctx = "instance " + instance + ": " + queue + " start " + start;
      assertEquals(best, result.admitted().size(), ctx);
      assertTrue(onTime(result.admitted(), start), ctx);

      List<QueuedRequest> sorted = new ArrayList<>(result.admitted());
      sorted.sort(MooreHodgsonAdmission.DEADLINE_ORDER);
      assertEquals(sorted, result.admitted(), "admitted in deadline order");
      Set<String> seen = new HashSet<>(ids(result.admitted()));
      for (MooreHodgsonAdmission.Drop d : result.dropped()) {
        assertTrue(seen.add(d.request().requestId()), ctx);
        boolean aloneLate = start + d.request().estimatedPrefillNanos() > d.request().ttftDeadlineNanos();
        assertEquals(aloneLate, d instanceof MooreHodgsonAdmission.Drop.Rejected, ctx);
        assertTrue(d.request().hasDeadline(), ctx);
      }
      assertEquals(n, seen.size(), "every request admitted or dropped exactly once");
    }
  }
}
