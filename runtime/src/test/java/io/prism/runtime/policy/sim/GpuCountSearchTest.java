package io.prism.runtime.policy.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class GpuCountSearchTest {
  @Test
  void findsTheFewestCountMeetingTheTargetWithFewSimulations() {
    List<Integer> asked = new ArrayList<>();
    // attainment 0.1 per GPU: 0.99 first met at 10 GPUs
    GpuCountSearch.Result r = GpuCountSearch.fewestGpus(g -> {
      asked.add(g);
      return Math.min(1.0, g / 10.0);
    }, 0.99, 64);
    assertEquals(10, r.gpus());
    assertEquals(1.0, r.attainment());
    assertEquals(0.9, r.attainmentOneFewer(), 1e-12);
    assertEquals(List.of(1, 2, 4, 8, 16, 12, 10, 9), asked, "doubling, then bisection between 8 and 16");
    assertEquals(asked.size(), r.evaluated().size());
  }

  @Test
  void oneGpuThatSufficesAndATargetNeverMet() {
    assertEquals(1, GpuCountSearch.fewestGpus(g -> 1.0, 0.99, 8).gpus());
    GpuCountSearch.Result never = GpuCountSearch.fewestGpus(g -> 0.5, 0.99, 6);
    assertEquals(-1, never.gpus());
    assertEquals(0.5, never.attainment());
    assertTrue(never.evaluated().containsKey(6), "the largest count was tried: " + never.evaluated());
    assertThrows(IllegalArgumentException.class, () -> GpuCountSearch.fewestGpus(g -> 1.0, 1.5, 8));
    assertThrows(IllegalArgumentException.class, () -> GpuCountSearch.fewestGpus(g -> 1.0, 0.9, 0));
  }
}
