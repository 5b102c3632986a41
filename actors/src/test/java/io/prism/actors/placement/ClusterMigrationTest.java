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
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.cluster.typed.Cluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Live migration between two nodes (two actor systems in one JVM, one host GPU each): a model moves
 * from node A's GPU to node B's while requests entering node A stream; every request completes
 * with the reference text and A's pages all come back.
 */
class ClusterMigrationTest {
  private static PrismNode a;
  private static PrismNode b;

  @BeforeAll
  static void start() {
    a = PrismNode.start("prism-migration-cluster", TestSupport.config("prism.placement.round-interval = 0s\n"),
        List.of(new HostDevice(0, 64 * 1024, 1)), ModelStore.fileLoader());
    Address addressA = Cluster.get(a.system()).selfMember().address();
    b = PrismNode.start("prism-migration-cluster", TestSupport.config("pekko.cluster.seed-nodes = [\"" + addressA + "\"]\n"
        + "prism.node.join-self = off\nprism.placement.round-interval = 0s\n"), List.of(new HostDevice(0, 64 * 1024, 1)), ModelStore.fileLoader());
  }

  @AfterAll
  static void stop() {
    if (b != null) b.close();
    if (a != null) a.close();
  }

  @Test
  void aModelMovesToAnotherNodeUnderLoadWithoutAFailedRequest() throws Exception {
    GpuId onA = a.localGpus().get(0);
    GpuId onB = b.localGpus().get(0);
    TestProbe<Void> waiter = ActorTestKit.create(a.system()).createTestProbe();
    waiter.awaitAssert(Duration.ofSeconds(30), Duration.ofMillis(100), () -> {
      assertEquals(2, a.placementView().toCompletableFuture().get(5, TimeUnit.SECONDS).gpus().size(), "both GPUs report");
      return null;
    });
    ModelInfo info = assertInstanceOf(GlobalPlacementActor.Registered.class,
        a.register(TestSupport.spec("traveller", "stories260K.bin")).toCompletableFuture().get(60, TimeUnit.SECONDS)).model();
    GpuId source = info.gpu();
    GpuId target = source.equals(onA) ? onB : onA;

    ActorTestKit kit = ActorTestKit.create(a.system());
    List<TestProbe<GenerationEvent>> probes = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      TestProbe<GenerationEvent> p = kit.createTestProbe();
      a.generate(TestSupport.greedy("x-" + i, "traveller", TestSupport.ORACLE_MAX_TOKENS), p.ref());
      probes.add(p);
    }
    CompletionStage<GlobalPlacementActor.MoveReply> move = a.move("traveller", target);
    for (int i = 6; i < 12; i++) {
      TestProbe<GenerationEvent> p = kit.createTestProbe();
      a.generate(TestSupport.greedy("x-" + i, "traveller", TestSupport.ORACLE_MAX_TOKENS), p.ref());
      probes.add(p);
    }
    GlobalPlacementActor.Moved moved = assertInstanceOf(GlobalPlacementActor.Moved.class, move.toCompletableFuture().get(60, TimeUnit.SECONDS));
    assertEquals(target, moved.to());
    TestProbe<GenerationEvent> late = kit.createTestProbe();
    a.generate(TestSupport.greedy("x-late", "traveller", TestSupport.ORACLE_MAX_TOKENS), late.ref());
    probes.add(late);
    for (TestProbe<GenerationEvent> p : probes) {
      List<GenerationEvent> events = TestSupport.collect(p, Duration.ofSeconds(90));
      GenerationEvent.Started started = assertInstanceOf(GenerationEvent.Started.class, events.get(0), "not rejected: " + events);
      assertEquals(FinishReason.LENGTH, TestSupport.last(events, GenerationEvent.Completed.class).reason());
      assertEquals(TestSupport.oracle(), TestSupport.PROMPT + TestSupport.text(events));
      if (p == late) assertEquals(target, started.gpu());
    }
    waiter.awaitAssert(Duration.ofSeconds(30), Duration.ofMillis(100), () -> {
      for (GpuStatus g : a.gpus().toCompletableFuture().get(10, TimeUnit.SECONDS)) {
        assertEquals("", g.invariantViolation());
        if (g.gpu().equals(source)) {
          assertTrue(g.models().isEmpty(), "the source node unloaded the model");
          assertEquals(0, g.heldPages());
        }
      }
      return null;
    });
  }
}
