package io.prism.actors.placement;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.actors.PrismNode;
import io.prism.actors.TestSupport;
import io.prism.actors.frontend.GenerationEvent;
import io.prism.actors.gpu.GpuStatus;
import io.prism.actors.model.ModelStore;
import io.prism.runtime.engine.FinishReason;
import io.prism.runtime.forward.HostDevice;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Time sharing beyond GPU memory on the host backend: a 4 MiB device holds two stories260K models
 * (1 MiB of weights each, plus KV pages) at once; six are registered on it, and requests rotating
 * over all six all succeed, each load or activation evicting the least recently used idle model.
 */
class TimeSharingTest {
  private static final int MODELS = 6;
  private static PrismNode node;
  private static ActorTestKit kit;

  @BeforeAll
  static void start() {
    node = PrismNode.start("time-sharing-test", TestSupport.config("""
            prism.gpu.memory-budget = 4MiB
            prism.gpu.reserve-pages = 2
            prism.gpu.swap-idle-after = 0s
            prism.gpu.check-invariants = on
            prism.placement.round-interval = 0s
            """), List.of(new HostDevice(0, 64 * 1024, 1)), ModelStore.fileLoader());
    kit = ActorTestKit.create(node.system());
  }

  @AfterAll
  static void stop() {
    if (node != null) node.close();
  }

  @Test
  void threeTimesAsManyModelsAsFitAreRegisteredAndServedInTurn() throws Exception {
    for (int i = 0; i < MODELS; i++) {
      GlobalPlacementActor.RegisterReply r = node.register(TestSupport.spec("ts-" + i, "stories260K.bin")).toCompletableFuture()
          .get(60, TimeUnit.SECONDS);
      assertInstanceOf(GlobalPlacementActor.Registered.class, r, "model " + i + " is registered although the GPU holds only some at once: " + r);
    }
    String oracle = TestSupport.oracle();
    for (int round = 0; round < 2; round++) {
      for (int i = 0; i < MODELS; i++) {
        TestProbe<GenerationEvent> p = kit.createTestProbe();
        node.generate(TestSupport.greedy("ts-" + round + "-" + i, "ts-" + i, 24), p.ref());
        List<GenerationEvent> events = TestSupport.collect(p, Duration.ofSeconds(60));
        assertInstanceOf(GenerationEvent.Started.class, events.get(0), "ts-" + i + " served: " + events);
        assertEquals(FinishReason.LENGTH, TestSupport.last(events, GenerationEvent.Completed.class).reason());
        assertTrue(oracle.startsWith(TestSupport.PROMPT + TestSupport.text(events)), "greedy output of ts-" + i);
      }
    }
    GpuStatus gpu = node.gpus().toCompletableFuture().get(10, TimeUnit.SECONDS).get(0);
    assertEquals("", gpu.invariantViolation());
    assertEquals(MODELS, gpu.models().size(), "every model stays placed on the GPU");
    long residentBytes = gpu.models().stream().filter(GpuStatus.ModelStatus::resident).mapToLong(GpuStatus.ModelStatus::weightBytes).sum();
    assertTrue(residentBytes <= gpu.budgetBytes(), "resident weights within the budget: " + residentBytes);
    assertTrue(gpu.models().stream().filter(GpuStatus.ModelStatus::resident).count() < MODELS, "some models are evicted");
    long activations = gpu.models().stream().mapToLong(m -> m.books().activations()).sum();
    assertTrue(activations >= MODELS, "evicted models came back on request: " + activations);
    for (GpuStatus.ModelStatus m : gpu.models()) assertEquals(0, m.pagesInUse(), m.modelId());
  }
}
