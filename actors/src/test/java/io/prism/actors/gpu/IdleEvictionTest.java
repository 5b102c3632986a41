package io.prism.actors.gpu;

import io.prism.actors.TestSupport;
import io.prism.actors.placement.GlobalPlacementActor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.engine.FinishReason;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes;
import org.junit.jupiter.api.Test;

/**
 * Time sharing on one host GPU (issue 5): a model idle past the threshold has its weights evicted to
 * host memory (its pages and weight bytes go back to the pool) but stays placed on the GPU; a
 * request for it reactivates it (through reclaim when the pool is full) and completes with the
 * same output; the activation is counted and timed. The device clock is moved forward instead of
 * waiting 45 s.
 */
class IdleEvictionTest {
  private static final int KV_PAGES = 300;

  private static long budget() {
    return 2 * BallooningTest.weightBytes() + KV_PAGES * GpuFixture.PAGE_BYTES + GpuFixture.PAGE_BYTES - 1;
  }

  private static boolean hasEvent(GpuStatus s, String kind, String model) {
    return s.events().stream().anyMatch(e -> e.kind().equals(kind) && e.modelId().equals(model));
  }

  @Test
  void idleModelIsEvictedAfterTheThresholdStaysPlacedAndARequestReactivatesIt() {
    try (GpuFixture fx = new GpuFixture("idle-eviction-test", budget(), "")) {
      fx.load("a", 10_000, 1_000);
      fx.load("b", 10_000, 1_000);
      String first = fx.sendGreedy("a", "a-1", TestSupport.ORACLE_MAX_TOKENS);
      fx.awaitEnded(List.of(first, fx.sendGreedy("b", "b-1", 20)));
      long weightsBefore = fx.status().weightBytes();

      fx.gpu.tell(GpuActor.EvictIdleModels.INSTANCE);
      assertTrue(fx.status().model("a").resident(), "not idle long enough yet");

      fx.advance(Duration.ofSeconds(46));
      fx.gpu.tell(GpuActor.EvictIdleModels.INSTANCE);
      GpuStatus evicted = fx.awaitStatus("both evicted", s -> !s.model("a").resident() && !s.model("b").resident());
      assertEquals(0, evicted.weightBytes(), "weights left the device");
      assertTrue(weightsBefore > 0);
      assertEquals(0, evicted.model("a").pagesHeld(), "an evicted model holds no KV page");
      assertEquals(1, evicted.model("a").books().evictions());
      assertTrue(hasEvent(evicted, GpuEvent.EVICTED, "a"), "eviction is an event: " + evicted.events());
      // still placed here: the GPU keeps reporting it, so requests keep coming to this GPU
      fx.placement.fishForMessage(GpuFixture.TIMEOUT, m -> m instanceof GlobalPlacementActor.GpuReport r
          && r.models().stream().anyMatch(res -> res.spec().id().equals("a")) && r.freeBytes() > 0
          ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore());

      String again = fx.sendGreedy("a", "a-2", TestSupport.ORACLE_MAX_TOKENS);
      fx.awaitEnded(List.of(again));
      assertEquals(FinishReason.LENGTH, fx.completed(again).reason());
      assertEquals(TestSupport.oracle(), TestSupport.PROMPT + TestSupport.text(fx.events(again)), "same output after activation");
      GpuStatus after = fx.assertQuiescentAndConserved();
      assertTrue(after.model("a").resident());
      assertFalse(after.model("b").resident(), "b stays evicted");
      assertEquals(1, after.model("a").books().activations());
      assertTrue(after.model("a").books().lastActivationNanos() >= 0);
      assertTrue(hasEvent(after, GpuEvent.ACTIVATED, "a"));
    }
  }

  @Test
  void activationReclaimsRoomForTheWeightsFromTheModelThatGrewIntoThem() {
    try (GpuFixture fx = new GpuFixture("activation-reclaim-test", budget(), "")) {
      // TTFT SLOs longer than the 46 s clock jump below: b's requests still queued at the jump must
      // not miss their deadlines because of it (deadline admission would reject them as unattainable).
      fx.load("a", 600_000, 1_000);
      fx.load("b", 600_000, 1_000);
      fx.awaitEnded(List.of(fx.sendGreedy("a", "a-1", 20)));
      // b is busy when a goes idle past the threshold
      List<String> bIds = new ArrayList<>();
      for (int i = 0; i < 16; i++) bIds.add(fx.send("b", "b-" + i, "Once upon a time", 250));
      fx.awaitStatus("b started", s -> s.model("b").running() > 0);
      fx.advance(Duration.ofSeconds(46));
      fx.gpu.tell(GpuActor.EvictIdleModels.INSTANCE);
      fx.awaitStatus("a evicted, b still resident", s -> !s.model("a").resident() && s.model("b").resident());
      GpuStatus grown = fx.awaitStatus("b grows into the pages a's weights left", s -> s.model("b").pagesHeld() > KV_PAGES);

      String ar = fx.sendGreedy("a", "a-2", TestSupport.ORACLE_MAX_TOKENS);
      fx.awaitEnded(List.of(ar));
      fx.awaitEnded(bIds);
      assertEquals(TestSupport.oracle(), TestSupport.PROMPT + TestSupport.text(fx.events(ar)));
      for (String id : bIds) assertEquals(FinishReason.LENGTH, fx.completed(id).reason(), id);
      GpuStatus end = fx.assertQuiescentAndConserved();
      System.out.println("activation: b peak above " + grown.model("b").pagesHeld() + " pages; a activated in "
          + end.model("a").books().lastActivationNanos() / 1e6 + " ms; events:");
      end.events().forEach(e -> System.out.println("  " + e.kind() + " " + e.modelId() + ": " + e.detail()));
      assertEquals(1, end.model("a").books().activations());
      assertTrue(end.events().stream().anyMatch(e -> e.detail().contains("for a")), "reclaim made room for a's weights");
      assertTrue(hasEvent(end, GpuEvent.ACTIVATED, "a"));
    }
  }

  @Test
  void idleModelsAreEvictedOnTheTimerWithoutBeingAsked() {
    try (GpuFixture fx = new GpuFixture("idle-timer-test", budget(), "prism.gpu.idle-eviction = 300ms")) {
      fx.load("a", 10_000, 1_000);
      fx.awaitEnded(List.of(fx.sendGreedy("a", "a-1", 10)));
      GpuStatus s = fx.awaitStatus("evicted by the timer", st -> !st.model("a").resident());
      long evictions = s.model("a").books().evictions();
      assertTrue(evictions >= 1, "evicted (possibly already once before its first request)");
      fx.awaitEnded(List.of(fx.sendGreedy("a", "a-2", 10)));
      assertEquals(FinishReason.LENGTH, fx.completed("a-2").reason());
      assertEquals(evictions, fx.status().model("a").books().activations(), "every eviction was followed by an activation");
    }
  }
}
