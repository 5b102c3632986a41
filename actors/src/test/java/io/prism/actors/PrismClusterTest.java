package io.prism.actors;

import io.prism.actors.frontend.GenerationEvent;
import io.prism.actors.gpu.GpuStatus;
import io.prism.actors.model.ModelStore;
import io.prism.actors.placement.GlobalPlacementActor;
import io.prism.actors.placement.ModelInfo;

import io.prism.runtime.engine.Rejection;
import static io.prism.actors.TestSupport.collect;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.engine.FinishReason;
import io.prism.runtime.forward.HostDevice;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.cluster.typed.Cluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Two nodes in one JVM: node A has no devices (a frontend), node B one host GPU. A model
 * registered through A is placed on B's GPU, and a request entering A streams back from B.
 */
class PrismClusterTest {
  private static final Duration TIMEOUT = Duration.ofSeconds(60);
  private static PrismNode a;
  private static PrismNode b;

  @BeforeAll
  static void start() {
    a = PrismNode.start("prism-cluster-test", TestSupport.config(""), List.of(), ModelStore.fileLoader());
    Address addressA = Cluster.get(a.system()).selfMember().address();
    b = PrismNode.start("prism-cluster-test",
        TestSupport.config("pekko.cluster.seed-nodes = [\"" + addressA + "\"]\nprism.node.join-self = off"),
        List.of(new HostDevice(0, 64 * 1024, 1)), ModelStore.fileLoader());
  }

  @AfterAll
  static void stop() {
    if (b != null) b.close();
    if (a != null) a.close();
  }

  @Test
  void requestEnteringOneNodeIsServedByAModelOnAnotherNodesGpu() throws Exception {
    GlobalPlacementActor.RegisterReply reply =
        a.register(TestSupport.spec("stories260K", "stories260K.bin")).toCompletableFuture().get(60, TimeUnit.SECONDS);
    ModelInfo info = assertInstanceOf(GlobalPlacementActor.Registered.class, reply).model();
    GpuId onB = b.localGpus().get(0);
    assertEquals(onB, info.gpu());

    ActorTestKit kitA = ActorTestKit.create(a.system());
    TestProbe<GenerationEvent> probe = kitA.createTestProbe();
    a.generate(TestSupport.greedy("cross-1", "stories260K", TestSupport.ORACLE_MAX_TOKENS), probe.ref());
    List<GenerationEvent> events = collect(probe, TIMEOUT);

    GenerationEvent.Started started = assertInstanceOf(GenerationEvent.Started.class, events.get(0));
    assertEquals(onB, started.gpu());
    assertTrue(started.model().path().address().hasGlobalScope(), "the model actor is remote: " + started.model());
    assertEquals(FinishReason.LENGTH, TestSupport.last(events, GenerationEvent.Completed.class).reason());
    assertEquals(TestSupport.oracle(), TestSupport.PROMPT + TestSupport.text(events));

    // the GPU, seen from node A: no page in use by a request; what the model holds it keeps (its
    // empty reserve page id and prefix-cached blocks), and the pool's books balance
    List<GpuStatus> gpus = a.gpus().toCompletableFuture().get(30, TimeUnit.SECONDS);
    assertEquals(1, gpus.size());
    GpuStatus gpu = gpus.get(0);
    assertEquals("", gpu.invariantViolation());
    assertEquals(1, gpu.models().size());
    assertEquals(0, gpu.models().get(0).pagesInUse());
    assertEquals(gpu.heldPages(), gpu.models().get(0).pagesKept());
    assertTrue(a.health().toCompletableFuture().get(30, TimeUnit.SECONDS).healthy());
  }

  @Test
  void unknownModelIsRejectedFromAnyNode() {
    ActorTestKit kitB = ActorTestKit.create(b.system());
    TestProbe<GenerationEvent> probe = kitB.createTestProbe();
    b.generate(TestSupport.greedy("ghost-1", "no-such-model", 5), probe.ref());
    GenerationEvent.Rejected r = assertInstanceOf(GenerationEvent.Rejected.class, probe.receiveMessage(TIMEOUT));
    assertEquals(Rejection.Kind.MODEL_NOT_FOUND, r.kind());
  }
}
