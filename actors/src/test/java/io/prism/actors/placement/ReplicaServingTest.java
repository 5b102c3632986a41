package io.prism.actors.placement;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.actors.GpuId;
import io.prism.actors.PrismNode;
import io.prism.actors.TestSupport;
import io.prism.actors.frontend.GenerationEvent;
import io.prism.actors.gpu.GpuStatus;
import io.prism.actors.model.ModelStore;
import io.prism.runtime.engine.FinishReason;
import io.prism.runtime.forward.HostDevice;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Replicas with real load on one node with two host GPUs: a model allowed two instances gets its
 * second once its GPU reports demand over the (test-low) threshold; requests then spread over both;
 * every request completes with the reference text; unregistering removes both instances and every
 * page comes back.
 */
class ReplicaServingTest {
  private static final Duration TIMEOUT = Duration.ofSeconds(120);
  private static PrismNode node;
  private static ActorTestKit kit;

  @BeforeAll
  static void start() {
    node = PrismNode.start("replica-serving-test", TestSupport.config("""
        prism.placement.round-interval = 0s
        prism.placement.migration-cooldown = 0s
        prism.placement.replicas {
          check-interval = 200ms
          overload-queue = 1000
          overload-kvpr = 1e-15
          overload-checks = 1
          underload-queue = 0
          underload-kvpr = 0
          underload-checks = 1000
        }
        prism.frontend.placement-cache-ttl = 100ms
        """), List.of(new HostDevice(0, 64 * 1024, 1), new HostDevice(1, 64 * 1024, 1)), ModelStore.fileLoader());
    kit = ActorTestKit.create(node.system());
  }

  @AfterAll
  static void stop() {
    if (node != null) node.close();
  }

  private static List<TestProbe<GenerationEvent>> send(String prefix, int n) {
    List<TestProbe<GenerationEvent>> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      TestProbe<GenerationEvent> p = kit.createTestProbe();
      node.generate(TestSupport.greedy(prefix + i, "wide", TestSupport.ORACLE_MAX_TOKENS), p.ref());
      out.add(p);
    }
    return out;
  }

  /** Collects every request to its end, checks it completed with the reference text; counts where they started. */
  private static Map<GpuId, Integer> complete(List<TestProbe<GenerationEvent>> probes) {
    Map<GpuId, Integer> byGpu = new TreeMap<>();
    for (TestProbe<GenerationEvent> p : probes) {
      List<GenerationEvent> events = TestSupport.collect(p, TIMEOUT);
      GenerationEvent.Started started = assertInstanceOf(GenerationEvent.Started.class, events.get(0), "no request is rejected: " + events);
      assertEquals(FinishReason.LENGTH, TestSupport.last(events, GenerationEvent.Completed.class).reason());
      assertEquals(TestSupport.oracle(), TestSupport.PROMPT + TestSupport.text(events));
      byGpu.merge(started.gpu(), 1, Integer::sum);
    }
    return byGpu;
  }

  @Test
  void anOverloadedModelGetsASecondInstanceRequestsSpreadAndUnregisterRemovesBoth() throws Exception {
    ModelInfo info = assertInstanceOf(GlobalPlacementActor.Registered.class,
        node.register(TestSupport.spec("wide", "stories260K.bin").withMaxReplicas(2)).toCompletableFuture().get(60, TimeUnit.SECONDS)).model();
    GpuId first = info.gpu();
    assertEquals(Map.of(first, 4), complete(send("warm-", 4)), "one instance: everything runs there");

    TestProbe<Void> waiter = kit.createTestProbe();
    GpuId second = waiter.awaitAssert(Duration.ofSeconds(60), Duration.ofMillis(100), () -> {
      ModelInfo m = node.models().toCompletableFuture().get(10, TimeUnit.SECONDS).stream().filter(x -> x.id().equals("wide")).findFirst()
          .orElseThrow();
      assertEquals(1, m.replicas().size(), "demand over the threshold adds an instance: " + m);
      return m.replicas().get(0);
    });
    assertNotEquals(first, second);

    complete(send("one-", 1)); // the frontend's cached placement expires and is refreshed with both instances
    Map<GpuId, Integer> spread = complete(send("spread-", 16));
    assertTrue(spread.getOrDefault(first, 0) >= 4 && spread.getOrDefault(second, 0) >= 4, "requests spread over both instances: " + spread);

    assertTrue(node.unregister("wide").toCompletableFuture().get(30, TimeUnit.SECONDS).existed());
    waiter.awaitAssert(Duration.ofSeconds(30), Duration.ofMillis(100), () -> {
      for (GpuStatus g : node.gpus().toCompletableFuture().get(10, TimeUnit.SECONDS)) {
        assertEquals("", g.invariantViolation());
        assertTrue(g.models().isEmpty(), "every instance unloads: " + g.gpu() + " " + g.models());
        assertEquals(0, g.heldPages(), "every page of " + g.gpu() + " is back");
        assertEquals(0, g.weightBytes());
      }
      return null;
    });
  }
}
