package io.prism.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.engine.Rejection;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * SLO attainment over the window, judged as the simulator judges it: TTFT within the SLO, TPOT
 * within the SLO or a single token, capacity refusals and failures meeting neither, client errors
 * and cancellations not judged; ends leave the window when they are older than it, on a clock the
 * test moves.
 */
class SloWindowTest {
  private static final Duration TTFT = Duration.ofMillis(500);
  private static final Duration TPOT = Duration.ofMillis(50);
  private final AtomicLong clock = new AtomicLong(1_000_000);
  private final SloWindow window = new SloWindow(Duration.ofSeconds(60), 100, clock::get);

  private static long ms(long millis) {
    return millis * 1_000_000;
  }

  @Test
  void judgesEachRequestAgainstBothSlosAsTheSimulatorDoes() {
    window.served("m", ms(500), ms(50)); // both exactly at the bound: met
    window.served("m", ms(501), ms(10)); // TTFT missed
    window.served("m", ms(100), ms(51)); // TPOT missed
    window.served("m", ms(100), -1); // one token: TPOT met trivially
    window.served("m", -1, -1); // no token at all (an empty answer): TTFT not met
    window.refused("m", Rejection.Kind.SLO_UNATTAINABLE);
    window.refused("m", Rejection.Kind.OVERLOADED);
    window.failed("m");
    window.cancelled("m");
    window.refused("m", Rejection.Kind.INVALID_REQUEST); // the client's error: not judged
    window.refused("m", Rejection.Kind.CONTEXT_LENGTH_EXCEEDED);
    window.refused("m", Rejection.Kind.MODEL_NOT_FOUND);

    SloWindow.Attainment a = window.attainment("m", TTFT, TPOT);
    assertEquals(8, a.requests(), "5 served, 2 refused, 1 failed; the cancelled one and the client errors are not judged");
    assertEquals(3, a.ttftMet());
    assertEquals(4, a.tpotMet(), "the exact bound, the early miss's 10 ms, one token, and the no-token answer");
    assertEquals(2, a.bothMet());
    assertEquals(2, a.refused());
    assertEquals(1, a.failed());
    assertEquals(1, a.cancelled());
    assertEquals(2 / 8.0, a.bothFraction());
    assertEquals(3 / 8.0, a.ttftFraction());
    assertEquals(ms(501), a.p95TtftNanos(), "nearest rank of 4 TTFTs");
    assertEquals(ms(51), a.p95TpotNanos());
  }

  @Test
  void aChangedSloAppliesToTheWholeWindowAtOnce() {
    window.served("m", ms(300), ms(20));
    window.served("m", ms(700), ms(20));
    assertEquals(1, window.attainment("m", TTFT, TPOT).ttftMet());
    assertEquals(2, window.attainment("m", Duration.ofSeconds(1), TPOT).ttftMet());
    assertEquals(0, window.attainment("m", Duration.ofMillis(200), TPOT).ttftMet());
  }

  @Test
  void endsOlderThanTheWindowLeaveItAndAnEmptyModelIsForgotten() {
    window.served("a", ms(100), ms(10));
    clock.addAndGet(30_000);
    window.served("a", ms(900), ms(10));
    window.served("b", ms(100), ms(10));
    assertEquals(List.of("a", "b"), window.models());
    assertEquals(2, window.attainment("a", TTFT, TPOT).requests());

    clock.addAndGet(30_001); // the first end of a is now 60.001 s old
    SloWindow.Attainment a = window.attainment("a", TTFT, TPOT);
    assertEquals(1, a.requests());
    assertEquals(0, a.ttftMet(), "only the slow one is left");

    clock.addAndGet(30_000);
    assertEquals(List.of(), window.models());
    assertEquals(SloWindow.Attainment.EMPTY, window.attainment("a", TTFT, TPOT));
    assertTrue(Double.isNaN(SloWindow.Attainment.EMPTY.bothFraction()), "no requests: no fraction, not 100%");
  }

  @Test
  void keepsAtMostTheBoundOfEndsPerModelDroppingTheOldest() {
    for (int i = 0; i < 100; i++) window.served("m", ms(900), ms(10)); // misses, soon pushed out
    for (int i = 0; i < 100; i++) window.served("m", ms(100), ms(10));
    SloWindow.Attainment a = window.attainment("m", TTFT, TPOT);
    assertEquals(100, a.requests());
    assertEquals(100, a.bothMet());
  }

  @Test
  void madeUpModelNamesCannotGrowItBeyondItsBoundUntilTheyLeaveTheWindow() {
    for (int i = 0; i < SloWindow.MAX_MODELS; i++) window.cancelled("ghost-" + i);
    window.served("real", ms(100), ms(10));
    assertEquals(SloWindow.MAX_MODELS, window.models().size(), "the real model is not tracked while the bound is full");
    assertEquals(0, window.attainment("real", TTFT, TPOT).requests());
    window.cancelled("ghost-0"); // a tracked name still records

    clock.addAndGet(60_001); // every ghost leaves the window
    window.served("real", ms(100), ms(10));
    assertEquals(List.of("real"), window.models());
    assertEquals(1, window.attainment("real", TTFT, TPOT).bothMet());
  }

  @Test
  void badSettingsAndSlosAreRefusedNamingThem() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new SloWindow(Duration.ZERO, 10, clock::get));
    assertTrue(e.getMessage().contains("prism.http.dashboard.slo-window"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> window.attainment("m", Duration.ZERO, TPOT));
  }

  @Test
  void totalsAddCounts() {
    SloWindow.Attainment x = new SloWindow.Attainment(4, 3, 2, 2, 1, 0, 1, ms(10), ms(2));
    SloWindow.Attainment y = new SloWindow.Attainment(6, 6, 5, 5, 0, 1, 0, ms(20), ms(1));
    assertEquals(new SloWindow.Attainment(10, 9, 7, 7, 1, 1, 1, ms(20), ms(2)), x.plus(y));
    assertEquals(0.7, x.plus(y).bothFraction(), 1e-12);
  }
}
