package io.prism.actors.gpu;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A model's wish for a pre-created page id reaches the pool actor that owns the reserve: with a
 * base reserve of 2 pages, the reserve grows to a whole stories260K page id (10 pages: 5 layers, K
 * and V) once the model serves, so mapping its next page id needs no driver create on its decode
 * path; and pages stay conserved.
 */
class PoolReserveTest {
  @Test
  void theReserveCoversEachModelsNextPageId() {
    try (GpuFixture fx = new GpuFixture("pool-reserve-test", 64L << 20, "prism.gpu.reserve-pages = 2\n")) {
      fx.load("a", 10_000, 1_000);
      fx.awaitEnded(List.of(fx.sendGreedy("a", "a-1", 40)));
      GpuStatus s = fx.awaitStatus("the reserve holds a whole page id of a", st -> st.reservePages() >= 10);
      assertTrue(s.reservePages() >= 10, s.toString());
      fx.assertQuiescentAndConserved();
    }
  }
}
