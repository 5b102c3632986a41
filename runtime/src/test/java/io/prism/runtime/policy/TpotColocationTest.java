package io.prism.runtime.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.policy.TpotColocation.Member;
import java.util.List;
import org.junit.jupiter.api.Test;

class TpotColocationTest {
  private static final long MS = 1_000_000L;

  @Test
  void worstGapIsEveryDecodeStepPlusTheLongestPrefillChunk() {
    Member a = new Member("a", 45 * MS, 7 * MS, 10 * MS);
    Member b = new Member("b", 268 * MS, 12 * MS, 43 * MS);
    assertEquals(7 * MS + 12 * MS + 43 * MS, TpotColocation.worstGapNanos(List.of(a, b)));
  }

  @Test
  void aTightModelDoesNotJoinABigModelWhoseChunkEatsItsSlo() {
    // the simulator's case: an 8B model (TPOT SLO 45 ms) beside a 14B one whose 512-token chunk takes 43 ms
    Member tight = new Member("m06-8b", 45 * MS, 7 * MS, 24 * MS);
    Member big = new Member("m01-14b", 268 * MS, 12 * MS, 43 * MS);
    assertFalse(TpotColocation.admits(List.of(big), tight));
    assertFalse(TpotColocation.admits(List.of(tight), big), "nor the big one beside the tight one");
    Member loose = new Member("m00-8b", 124 * MS, 7 * MS, 24 * MS);
    assertTrue(TpotColocation.admits(List.of(big), loose), "62 ms <= 124 ms and <= 268 ms");
    assertTrue(TpotColocation.admits(List.of(), tight), "alone always fits");
    assertTrue(TpotColocation.fits(List.of(tight)));
  }

  @Test
  void rejectsImpossibleMembers() {
    assertThrows(IllegalArgumentException.class, () -> new Member("x", 0, 1, 1));
    assertThrows(IllegalArgumentException.class, () -> new Member("x", MS, -1, 1));
  }
}
