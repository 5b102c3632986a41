package io.prism.actors.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.actors.PrismNode;
import io.prism.actors.TestSupport;
import io.prism.actors.frontend.GenerationEvent;
import io.prism.actors.gpu.GpuStatus;
import io.prism.actors.placement.GlobalPlacementActor;
import io.prism.runtime.engine.FinishReason;
import io.prism.runtime.forward.HostDevice;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The ServerlessLLM-like switch ({@code prism.gpu.max-resident-models = 1}) on the host backend: a
 * 4 MiB device that would hold two stories260K models at once holds one. Three models are
 * registered on it; requests rotate over them one at a time, then go to all three at once. The pool
 * checks after every change that no two models' weights are reserved at once ({@code
 * check-invariants}: a violation would make the device unhealthy and show in its status); after
 * every request at most one model is resident; every request is served with the reference output,
 * and models swap on demand.
 */
class OneResidentModelTest {
  private static final int MODELS = 3;
  private static PrismNode node;
  private static ActorTestKit kit;

  @BeforeAll
  static void start() {
    node = PrismNode.start("one-resident-test", TestSupport.config("""
            prism.gpu.memory-budget = 4MiB
            prism.gpu.reserve-pages = 2
            prism.gpu.max-resident-models = 1
            prism.gpu.swap-idle-after = 1ms
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
  void neverHoldsTwoModelsWeightsAtOnceAndServesEveryRequest() throws Exception {
    for (int i = 0; i < MODELS; i++) {
      GlobalPlacementActor.RegisterReply r = node.register(TestSupport.spec("one-" + i, "stories260K.bin")).toCompletableFuture()
          .get(60, TimeUnit.SECONDS);
      assertInstanceOf(GlobalPlacementActor.Registered.class, r, "model " + i + ": " + r);
      assertAtMostOneResident("after registering one-" + i);
    }
    assertTrue(gpu().models().get(0).weightBytes() * 2 < 4L << 20, "two models would fit: the limit, not the memory, keeps one");
    String oracle = TestSupport.oracle();
    for (int round = 0; round < 2; round++) {
      for (int i = 0; i < MODELS; i++) {
        TestProbe<GenerationEvent> p = kit.createTestProbe();
        node.generate(TestSupport.greedy("one-" + round + "-" + i, "one-" + i, 16), p.ref());
        List<GenerationEvent> events = TestSupport.collect(p, Duration.ofSeconds(60));
        assertEquals(FinishReason.LENGTH, TestSupport.last(events, GenerationEvent.Completed.class).reason(), "one-" + i + ": " + events);
        assertTrue(oracle.startsWith(TestSupport.PROMPT + TestSupport.text(events)), "greedy output of one-" + i);
        assertAtMostOneResident("after a request to one-" + i + " in round " + round);
        String served = "one-" + i;
        assertTrue(gpu().models().stream().filter(GpuStatus.ModelStatus::resident).allMatch(m -> m.modelId().equals(served)),
            "the model just served is the resident one: " + gpu().models());
      }
    }
    // all three at once: they take turns on the device, each served in full
    List<TestProbe<GenerationEvent>> probes = new ArrayList<>();
    for (int i = 0; i < MODELS; i++) {
      TestProbe<GenerationEvent> p = kit.createTestProbe();
      node.generate(TestSupport.greedy("one-burst-" + i, "one-" + i, 16), p.ref());
      probes.add(p);
    }
    for (int i = 0; i < MODELS; i++) {
      List<GenerationEvent> events = TestSupport.collect(probes.get(i), Duration.ofSeconds(60));
      assertEquals(FinishReason.LENGTH, TestSupport.last(events, GenerationEvent.Completed.class).reason(), "burst one-" + i + ": " + events);
    }
    assertAtMostOneResident("after the burst");
    GpuStatus g = gpu();
    long activations = g.models().stream().mapToLong(m -> m.books().activations()).sum();
    assertTrue(activations >= 2L * MODELS, "models swapped in on demand: " + activations + " activations");
  }

  private static void assertAtMostOneResident(String when) throws Exception {
    GpuStatus g = gpu();
    assertEquals("", g.invariantViolation(), when + ": the pool never held two models' weights");
    long resident = g.models().stream().filter(GpuStatus.ModelStatus::resident).count();
    assertTrue(resident <= 1, when + ": " + resident + " resident models: " + g.models());
  }

  private static GpuStatus gpu() throws Exception {
    return node.gpus().toCompletableFuture().get(10, TimeUnit.SECONDS).get(0);
  }
}
