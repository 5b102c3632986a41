package io.prism.runtime.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

class IdleEvictionPolicyTest {
  private static final long S = 1_000_000_000L;

  @Test
  void evictsQuietResidentModelsIdleAtLeastTheThresholdLongestIdleFirst() {
    List<ModelActivity> models = List.of(
        new ModelActivity("e", true, 5 * S, 0), // idle 45 s == threshold: evict
        new ModelActivity("b", true, 10 * S, 0), // idle 40 s: keep
        new ModelActivity("c", true, 0, 1), // in flight: keep
        new ModelActivity("d", false, 0, 0), // already evicted
        new ModelActivity("a", true, 0, 0)); // idle 50 s: evict first
    IdleEvictionPolicy policy = new IdleEvictionPolicy();
    assertEquals(Duration.ofSeconds(45), policy.idleThreshold());
    assertEquals(List.of("a", "e"), policy.modelsToEvict(models, 50 * S));
    assertEquals(OptionalLong.of(55 * S), policy.nextEvictionNanos(models, 50 * S));
  }

  @Test
  void nothingToScheduleWhenEveryModelIsBusyOrGone() {
    List<ModelActivity> models = List.of(new ModelActivity("c", true, 0, 2), new ModelActivity("d", false, 0, 0));
    IdleEvictionPolicy policy = new IdleEvictionPolicy(Duration.ofSeconds(10));
    assertTrue(policy.modelsToEvict(models, 100 * S).isEmpty());
    assertTrue(policy.nextEvictionNanos(models, 100 * S).isEmpty());
    assertThrows(IllegalArgumentException.class, () -> new IdleEvictionPolicy(Duration.ofSeconds(-1)));
  }
}
