package io.prism.runtime.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.policy.DecodePreemptionPolicy.Candidate;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class DecodePreemptionPolicyTest {
  private static final long MS = 1_000_000L;
  private static final Slo LOOSE = Slo.ofMillis(2000, 100);
  private static final Slo MID = Slo.ofMillis(1000, 50);
  private static final Slo STRICT = Slo.ofMillis(500, 20);

  @Test
  void slackIsTimeLeftForTheNextTokenToKeepTheMeanGap() {
    // first token at 1000 ms, 3 more since, TPOT 50 ms: the 4th must come by 1000 + 4 * 50 = 1200 ms.
    assertEquals(50 * MS, DecodePreemptionPolicy.slackNanos(1000 * MS, 3, Duration.ofMillis(50), 1150 * MS));
    assertEquals(-10 * MS, DecodePreemptionPolicy.slackNanos(1000 * MS, 3, Duration.ofMillis(50), 1210 * MS));
  }

  @Test
  void choosesMostSlackFirstAmongNoStricterModels() {
    List<Candidate> running = List.of(
        new Candidate("s", STRICT, "s1", 8, 900 * MS), // stricter than MID: never
        new Candidate("m", MID, "m1", 1, 40 * MS), // same class: allowed
        new Candidate("l", LOOSE, "l1", 2, 40 * MS), // same slack as m1, more pages: first
        new Candidate("l", LOOSE, "l2", 1, 300 * MS));
    var choice = DecodePreemptionPolicy.choose(MID, running, 3);
    assertEquals(List.of("l2", "l1"), choice.victims().stream().map(Candidate::sequenceId).toList());
    assertEquals(3, choice.pagesFreed());
    assertTrue(choice.sufficient());

    var all = DecodePreemptionPolicy.choose(MID, running, 10);
    assertEquals(List.of("l2", "l1", "m1"), all.victims().stream().map(Candidate::sequenceId).toList());
    assertEquals(4, all.pagesFreed());
    assertFalse(all.sufficient());
  }

  @Test
  void sloStrictnessComparesTpotFirstThenTtft() {
    assertTrue(Slo.ofMillis(5000, 20).isStricterThan(Slo.ofMillis(100, 30)));
    assertTrue(Slo.ofMillis(100, 30).isStricterThan(Slo.ofMillis(200, 30)));
    assertFalse(MID.isStricterThan(MID));
    assertTrue(MID.isStricterThan(Slo.NONE));
  }
}
