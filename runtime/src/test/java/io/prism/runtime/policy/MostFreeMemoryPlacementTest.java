package io.prism.runtime.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MostFreeMemoryPlacementTest {
  private static ModelDemand model(String id, long weightBytes, int currentGpu) {
    return ModelDemand.of(id, 100, 1, Duration.ofMillis(50), weightBytes, currentGpu);
  }

  @Test
  void keepsPlacedModelsAndPutsNewOnesWhereMostMemoryIsFree() {
    // GPU0 100 B, GPU1 150 B with m1 (60 B) -> free 100 vs 90.
    // Largest first: a (50) -> GPU0 (free 100 > 90), then b (30) -> GPU1 (free 90 > 50).
    Placement p = new MostFreeMemoryPlacement().place(
        List.of(model("b", 30, -1), model("m1", 60, 1), model("a", 50, -1)),
        List.of(new GpuCapacity(0, 100), new GpuCapacity(1, 150)));
    assertEquals(Map.of("a", List.of(0), "b", List.of(1), "m1", List.of(1)), p.assignment());
    assertEquals(List.of("a", "b"), p.moves().stream().map(Move::modelId).toList());
    assertTrue(p.migrations().isEmpty());
  }

  @Test
  void tiesGoToLowestGpuIdAndOversizedModelsAreUnplaced() {
    Placement p = new MostFreeMemoryPlacement().place(List.of(model("a", 10, -1), model("huge", 200, -1)),
        List.of(new GpuCapacity(3, 100), new GpuCapacity(1, 100)));
    assertEquals(Map.of("a", List.of(1)), p.assignment());
    assertEquals(List.of("huge"), p.unplaced());
  }
}
