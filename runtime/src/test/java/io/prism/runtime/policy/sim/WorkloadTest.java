package io.prism.runtime.policy.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class WorkloadTest {
  /** Flat ServeGen shapes: the rate is constant, so counts are Poisson around rate x duration. */
  private static final Map<String, double[]> FLAT = Map.of("m-small", new double[] {5, 5}, "m-mid", new double[] {7}, "m-large", new double[] {1, 1, 1});
  private static final List<Traces.Lengths> LENGTHS = List.of(new Traces.Lengths(100, 10), new Traces.Lengths(300, 30));

  private static Workload.Config config(double offMeanSeconds, long seed) {
    return new Workload.Config(List.of(ModelProfile.LLAMA_3_1_8B), 3, 10, 1000, 1.0, 60, offMeanSeconds, 10, seed);
  }

  @Test
  void spreadsTheTotalRateOverModelsByZipfPopularity() {
    Workload w = Workload.generate(config(0, 7), FLAT, LENGTHS, LENGTHS);
    // zipf 1 over 3 models: shares 1, 1/2, 1/3 over 11/6 -> 6/11, 3/11, 2/11 of 10 req/s.
    assertEquals(60.0 / 11, w.models().get(0).meanRequestsPerSecond(), 1e-9);
    assertEquals(20.0 / 11, w.models().get(2).meanRequestsPerSecond(), 1e-9);
    long[] counts = new long[3];
    for (Workload.Arrival a : w.arrivals()) counts[Integer.parseInt(a.modelId().substring(1, 3))]++;
    // Always on, flat shape: ~10,000 arrivals in 1000 s (standard deviation 100).
    assertEquals(10_000, w.arrivals().size(), 400);
    assertEquals(60_000 / 11.0, counts[0], 300);
    assertEquals(20_000 / 11.0, counts[2], 200);
    for (Workload.Arrival a : w.arrivals()) {
      assertTrue(a.arrivalNanos() >= 0 && a.arrivalNanos() < w.durationNanos());
      assertTrue(a.promptTokens() == 100 || a.promptTokens() == 300);
    }
  }

  @Test
  void burstyStreamIsDeterministicSortedAndHasQuietPeriods() {
    Workload a = Workload.generate(config(150, 3), FLAT, LENGTHS, LENGTHS);
    Workload b = Workload.generate(config(150, 3), FLAT, LENGTHS, LENGTHS);
    assertEquals(a.arrivals(), b.arrivals());
    assertTrue(a.arrivals().size() > 0);
    for (int i = 1; i < a.arrivals().size(); i++) {
      assertTrue(a.arrivals().get(i - 1).arrivalNanos() <= a.arrivals().get(i).arrivalNanos());
    }
    // The busiest model (5.5 req/s while on) still has an OFF period: a gap of over 30 s.
    List<Long> times = a.arrivals().stream().filter(r -> r.modelId().startsWith("m00")).map(Workload.Arrival::arrivalNanos).toList();
    long maxGap = times.get(0);
    for (int i = 1; i < times.size(); i++) maxGap = Math.max(maxGap, times.get(i) - times.get(i - 1));
    maxGap = Math.max(maxGap, a.durationNanos() - times.get(times.size() - 1));
    assertTrue(maxGap > 30_000_000_000L, "longest quiet period " + maxGap / 1e9 + " s");
  }
}
