package io.prism.actors.placement;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
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
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Down;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The cluster surviving the loss of a node (two or three actor systems in one JVM, one host GPU
 * each): a new placement singleton restores the replicated catalog and places the models of the
 * node it lost; a node that leaves gracefully hands its models over with no failed request; a GPU
 * of a gone node answers at once instead of having its messages buffered.
 */
class ClusterFailoverTest {
  private final List<PrismNode> nodes = new ArrayList<>();

  @AfterEach
  void stop() {
    for (int i = nodes.size() - 1; i >= 0; i--) nodes.get(i).close();
  }

  private PrismNode node(String name, Address seed) {
    return node(name, seed, "");
  }

  private PrismNode node(String name, Address seed, String config) {
    String extra = config + "\nprism.placement.round-interval = 0s\n"
        + (seed == null ? "" : "pekko.cluster.seed-nodes = [\"" + seed + "\"]\nprism.node.join-self = off\n");
    PrismNode n = PrismNode.start(name, TestSupport.config(extra), List.of(new HostDevice(0, 64 * 1024, 1)), ModelStore.fileLoader());
    nodes.add(n);
    return n;
  }

  private static Address address(PrismNode n) {
    return Cluster.get(n.system()).selfMember().address();
  }

  private static void awaitGpus(PrismNode n, int count) {
    ActorTestKit.create(n.system()).createTestProbe().awaitAssert(Duration.ofSeconds(30), Duration.ofMillis(100), () -> {
      assertEquals(count, n.placementView().toCompletableFuture().get(5, TimeUnit.SECONDS).gpus().size(), "GPUs reporting");
      return null;
    });
  }

  /** Registers {@code id} through {@code via} and moves it to {@code gpu}; returns once it serves there. */
  private static void placeOn(PrismNode via, String id, GpuId gpu) throws Exception {
    ModelInfo info = assertInstanceOf(GlobalPlacementActor.Registered.class,
        via.register(TestSupport.spec(id, "stories260K.bin")).toCompletableFuture().get(60, TimeUnit.SECONDS)).model();
    if (!info.gpu().equals(gpu)) {
      assertInstanceOf(GlobalPlacementActor.Moved.class, via.move(id, gpu).toCompletableFuture().get(60, TimeUnit.SECONDS));
    }
  }

  private static Map<String, ModelInfo> models(PrismNode n) throws Exception {
    Map<String, ModelInfo> out = new TreeMap<>();
    for (ModelInfo m : n.models().toCompletableFuture().get(10, TimeUnit.SECONDS)) out.put(m.id(), m);
    return out;
  }

  private static List<GenerationEvent> generate(PrismNode via, String requestId, String model, ActorTestKit kit) {
    TestProbe<GenerationEvent> p = kit.createTestProbe();
    via.generate(TestSupport.greedy(requestId, model, 20), p.ref());
    return TestSupport.collect(p, Duration.ofSeconds(60));
  }

  @Test
  void aNewSingletonRestoresTheReplicatedCatalogAndPlacesTheModelsOfTheNodeItLostOnceEveryUpNodeReported() throws Exception {
    // a restore grace far beyond the test's bound: the lost model is placed because every up node (b) reported its GPU
    String grace = "prism.placement.restore-grace = 10m";
    PrismNode a = node("prism-failover", null, grace); // oldest: runs the placement singleton
    PrismNode b = node("prism-failover", address(a), grace);
    awaitGpus(a, 2);
    placeOn(a, "on-a", a.localGpus().get(0));
    placeOn(a, "on-b", b.localGpus().get(0));

    Cluster.get(b.system()).manager().tell(new Down(address(a))); // a crash, as the split-brain resolver would decide it
    ActorTestKit kit = ActorTestKit.create(b.system());
    kit.createTestProbe().awaitAssert(Duration.ofSeconds(60), Duration.ofMillis(200), () -> {
      Map<String, ModelInfo> m = models(b);
      assertEquals(List.of("on-a", "on-b"), List.copyOf(m.keySet()), "the catalog survived the singleton's node");
      for (ModelInfo info : m.values()) {
        assertEquals(ModelInfo.State.READY, info.state(), info.id() + " is served again");
        assertEquals(b.localGpus().get(0), info.gpu());
      }
      return null;
    });
    for (String model : List.of("on-a", "on-b")) {
      List<GenerationEvent> events = generate(b, "after-" + model, model, kit);
      assertEquals(FinishReason.LENGTH, TestSupport.last(events, GenerationEvent.Completed.class).reason(), model + ": " + events);
    }
  }

  @Test
  void aNodeThatLeavesHandsItsModelOverWithoutAFailedRequest() throws Exception {
    PrismNode a = node("prism-leave", null);
    PrismNode b = node("prism-leave", address(a));
    awaitGpus(a, 2);
    placeOn(a, "mover", b.localGpus().get(0));

    ActorTestKit kit = ActorTestKit.create(a.system());
    List<TestProbe<GenerationEvent>> probes = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      TestProbe<GenerationEvent> p = kit.createTestProbe();
      a.generate(TestSupport.greedy("before-" + i, "mover", TestSupport.ORACLE_MAX_TOKENS), p.ref());
      probes.add(p);
    }
    var left = b.leave();
    for (int i = 0; i < 4; i++) {
      TestProbe<GenerationEvent> p = kit.createTestProbe();
      a.generate(TestSupport.greedy("during-" + i, "mover", TestSupport.ORACLE_MAX_TOKENS), p.ref());
      probes.add(p);
    }
    left.toCompletableFuture().get(90, TimeUnit.SECONDS);
    for (TestProbe<GenerationEvent> p : probes) {
      List<GenerationEvent> events = TestSupport.collect(p, Duration.ofSeconds(90));
      assertInstanceOf(GenerationEvent.Started.class, events.get(0), "not rejected: " + events);
      assertEquals(FinishReason.LENGTH, TestSupport.last(events, GenerationEvent.Completed.class).reason(), events.toString());
      assertEquals(TestSupport.oracle(), TestSupport.PROMPT + TestSupport.text(events));
    }
    ModelInfo mover = models(a).get("mover");
    assertEquals(ModelInfo.State.READY, mover.state());
    assertEquals(a.localGpus().get(0), mover.gpu(), "moved off the leaving node");
    List<GenerationEvent> after = generate(a, "after", "mover", kit);
    assertEquals(FinishReason.LENGTH, TestSupport.last(after, GenerationEvent.Completed.class).reason());
  }

  @Test
  void requestsForAGpuWhoseNodeIsGoneAreRefusedAtOnceNotBuffered() throws Exception {
    PrismNode a = node("prism-lost-gpu", null);
    PrismNode b = node("prism-lost-gpu", address(a));
    awaitGpus(a, 2);
    GpuId onB = b.localGpus().get(0);
    Cluster.get(a.system()).manager().tell(new Down(address(b)));
    ActorTestKit kit = ActorTestKit.create(a.system());
    TestProbe<GpuStatus> status = kit.createTestProbe();
    kit.createTestProbe().awaitAssert(Duration.ofSeconds(30), Duration.ofMillis(200), () -> {
      a.gpuRef(onB).tell(new io.prism.actors.gpu.GpuActor.GetStatus(status.ref()));
      GpuStatus s = status.receiveMessage(Duration.ofSeconds(2));
      assertTrue(!s.healthy() && s.problem().contains("not in the cluster"), s.problem());
      return null;
    });
    TestProbe<GenerationEvent> p = kit.createTestProbe();
    a.gpuRef(onB).tell(new io.prism.actors.gpu.GpuActor.Generate(TestSupport.greedy("nowhere", "m", 5), p.ref(), null, 0));
    GenerationEvent.Rejected r = assertInstanceOf(GenerationEvent.Rejected.class, p.receiveMessage(Duration.ofSeconds(10)));
    assertEquals(5, r.rejection().retryAfterSeconds());
  }
}
