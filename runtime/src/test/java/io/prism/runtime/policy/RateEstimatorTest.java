package io.prism.runtime.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Map;
import org.junit.jupiter.api.Test;

class RateEstimatorTest {
  private static final long S = 1_000_000_000L;

  @Test
  void averagesTokensOverTheHalfOpenSixtySecondWindow() {
    RateEstimator r = new RateEstimator();
    r.record("m", 0, 100);
    r.record("m", 30 * S, 200);
    r.record("m", 60 * S, 300);
    r.record("other", 60 * S, 60);
    // (0, 60]: 200 + 300 over 60 s.
    assertEquals(500.0 / 60, r.tokensPerSecond("m", 60 * S), 1e-12);
    assertEquals(Map.of("m", 500.0 / 60, "other", 1.0), r.rates(60 * S));
    // (30, 90]: 300.
    assertEquals(5.0, r.tokensPerSecond("m", 90 * S), 1e-12);
    // (60, 120]: nothing.
    assertEquals(0.0, r.tokensPerSecond("m", 120 * S), 0);
    assertEquals(0.0, r.tokensPerSecond("never", 120 * S), 0);
  }

  @Test
  void refusesTimeGoingBackwardsAndNegativeTokens() {
    RateEstimator r = new RateEstimator();
    r.record("m", 10 * S, 1);
    assertThrows(IllegalArgumentException.class, () -> r.tokensPerSecond("m", 9 * S));
    assertThrows(IllegalArgumentException.class, () -> r.record("m", 11 * S, -1));
  }
}
