package io.prism.runtime.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.prism.runtime.policy.MostFreeMemoryPlacement.Candidate;
import java.util.List;
import org.junit.jupiter.api.Test;

class MostFreeMemoryPlacementTest {
  @Test
  void prefersTheGpuWithTheMostFreeMemoryAndSkipsThoseTooSmall() {
    List<Candidate> gpus = List.of(new Candidate("a", 100), new Candidate("b", 300), new Candidate("c", 200), new Candidate("d", 50));
    assertEquals(List.of("b", "c", "a"), MostFreeMemoryPlacement.rank(gpus, 80));
  }

  @Test
  void breaksTiesByGpuId() {
    List<Candidate> gpus = List.of(new Candidate("gpu-1", 10), new Candidate("gpu-0", 10));
    assertEquals(List.of("gpu-0", "gpu-1"), MostFreeMemoryPlacement.rank(gpus, 0));
  }

  @Test
  void returnsNothingWhenNoGpuFits() {
    assertEquals(List.of(), MostFreeMemoryPlacement.rank(List.of(new Candidate("a", 5)), 6));
  }

  @Test
  void rejectsNegativeSizes() {
    assertThrows(IllegalArgumentException.class, () -> MostFreeMemoryPlacement.rank(List.of(), -1));
  }
}
