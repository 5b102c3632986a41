package io.prism.actors.placement;

import io.prism.actors.GpuId;
import io.prism.actors.ModelSpec;
import io.prism.actors.TestSupport;
import io.prism.actors.gpu.GpuActor;

import io.prism.runtime.engine.Rejection;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The placement singleton against GPU actors played by probes. */
class GlobalPlacementActorTest {
  private static final long MIB = 1 << 20;
  private static ActorTestKit testKit;

  @BeforeAll
  static void start() {
    testKit = ActorTestKit.create("placement-test", TestSupport.config(""));
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  /** Two GPUs (probes) on one node, reported with the given budgets. */
  private record Rig(ActorRef<GlobalPlacementActor.Command> placement, Map<GpuId, TestProbe<GpuActor.Command>> gpus) {
    TestProbe<GpuActor.Command> probe(int index) {
      return gpus.get(new GpuId("10.0.0.1", 25520, index));
    }

    void report(int index, long budget, List<GlobalPlacementActor.Resident> models, long incarnation) {
      GpuId id = new GpuId("10.0.0.1", 25520, index);
      placement.tell(new GlobalPlacementActor.GpuReport(id, "test-" + index, incarnation, budget, budget, true, models));
    }
  }

  private static Rig rig(long... budgets) {
    Map<GpuId, TestProbe<GpuActor.Command>> gpus = new TreeMap<>();
    for (int i = 0; i < budgets.length; i++) gpus.put(new GpuId("10.0.0.1", 25520, i), testKit.createTestProbe());
    ActorRef<GlobalPlacementActor.Command> p = testKit.spawn(GlobalPlacementActor.create(g -> gpus.get(g).ref(), false));
    Rig rig = new Rig(p, gpus);
    for (int i = 0; i < budgets.length; i++) rig.report(i, budgets[i], List.of(), 1);
    return rig;
  }

  private static ModelSpec spec(String id, long bytes) {
    return new ModelSpec(id, "/models/" + id + ".bin", null, Duration.ofSeconds(1), Duration.ofMillis(100), bytes);
  }

  @Test
  void placesANewModelOnTheGpuWithTheMostFreeMemoryAndRepliesWhenItIsLoaded() {
    Rig rig = rig(100 * MIB, 300 * MIB);
    TestProbe<GlobalPlacementActor.RegisterReply> reply = testKit.createTestProbe();
    rig.placement().tell(new GlobalPlacementActor.RegisterModel(spec("a", 10 * MIB), reply.ref()));

    GpuActor.LoadModel load = rig.probe(1).expectMessageClass(GpuActor.LoadModel.class);
    assertEquals("a", load.spec().id());
    rig.probe(0).expectNoMessage(Duration.ofMillis(100));
    reply.expectNoMessage(Duration.ofMillis(50)); // not before the GPU has loaded it

    GpuId gpu1 = new GpuId("10.0.0.1", 25520, 1);
    load.replyTo().tell(new GpuActor.ModelLoaded(gpu1, "a", 512, 9 * MIB));
    ModelInfo info = assertInstanceOf(GlobalPlacementActor.Registered.class, reply.receiveMessage()).model();
    assertEquals(ModelInfo.State.READY, info.state());
    assertEquals(gpu1, info.gpu());
    assertEquals(512, info.maxModelLen());

    TestProbe<GlobalPlacementActor.Resolution> resolved = testKit.createTestProbe();
    rig.placement().tell(new GlobalPlacementActor.Resolve("a", resolved.ref()));
    assertEquals(gpu1, assertInstanceOf(GlobalPlacementActor.Located.class, resolved.receiveMessage()).model().gpu());
  }

  @Test
  void aReportWithoutItsPoolsAnswerNeitherCrashesPlacementNorGetsModels() {
    Rig rig = rig(0, 0); // each GPU's first status came without its pool's answer (budget 0)
    TestProbe<GlobalPlacementActor.RegisterReply> reply = testKit.createTestProbe();
    rig.placement().tell(new GlobalPlacementActor.RegisterModel(spec("a", 10 * MIB), reply.ref()));
    rig.probe(0).expectNoMessage(Duration.ofMillis(100));
    rig.probe(1).expectNoMessage(Duration.ofMillis(10));
    rig.report(1, 300 * MIB, List.of(), 1); // the next report is whole: the waiting model is placed there
    assertEquals("a", rig.probe(1).expectMessageClass(GpuActor.LoadModel.class).spec().id());
    rig.probe(0).expectNoMessage(Duration.ofMillis(50));
  }

  @Test
  void spreadsModelsRegisteredTogetherAcrossGpus() {
    Rig rig = rig(256 * MIB, 256 * MIB);
    TestProbe<GlobalPlacementActor.RegisterReply> reply = testKit.createTestProbe();
    rig.placement().tell(new GlobalPlacementActor.RegisterModel(spec("x", 2 * MIB), reply.ref()));
    rig.placement().tell(new GlobalPlacementActor.RegisterModel(spec("y", 2 * MIB), reply.ref()));
    // ties go to the lowest GPU; the second model sees the first one's weights in flight there
    assertEquals("x", rig.probe(0).expectMessageClass(GpuActor.LoadModel.class).spec().id());
    assertEquals("y", rig.probe(1).expectMessageClass(GpuActor.LoadModel.class).spec().id());
  }

  @Test
  void triesTheNextGpuWhenOneCannotLoadAndFailsWhenNoneCan() {
    Rig rig = rig(200 * MIB, 100 * MIB);
    TestProbe<GlobalPlacementActor.RegisterReply> reply = testKit.createTestProbe();
    rig.placement().tell(new GlobalPlacementActor.RegisterModel(spec("big", 50 * MIB), reply.ref()));
    GpuActor.LoadModel first = rig.probe(0).expectMessageClass(GpuActor.LoadModel.class);
    first.replyTo().tell(new GpuActor.LoadFailed(new GpuId("10.0.0.1", 25520, 0), "big", "out of memory"));
    GpuActor.LoadModel second = rig.probe(1).expectMessageClass(GpuActor.LoadModel.class);
    second.replyTo().tell(new GpuActor.LoadFailed(new GpuId("10.0.0.1", 25520, 1), "big", "out of memory too"));
    GlobalPlacementActor.RegisterFailed failed = assertInstanceOf(GlobalPlacementActor.RegisterFailed.class, reply.receiveMessage());
    assertEquals(Rejection.Kind.UNAVAILABLE, failed.kind());
    assertTrue(failed.message().contains("out of memory too"), failed.message());

    TestProbe<GlobalPlacementActor.Resolution> resolved = testKit.createTestProbe();
    rig.placement().tell(new GlobalPlacementActor.Resolve("big", resolved.ref()));
    assertInstanceOf(GlobalPlacementActor.Unavailable.class, resolved.receiveMessage());
  }

  @Test
  void answersNotFoundForUnknownModelsAndLoadingForModelsStillLoading() {
    Rig rig = rig(100 * MIB);
    TestProbe<GlobalPlacementActor.Resolution> resolved = testKit.createTestProbe();
    rig.placement().tell(new GlobalPlacementActor.Resolve("ghost", resolved.ref()));
    assertInstanceOf(GlobalPlacementActor.NotFound.class, resolved.receiveMessage());

    TestProbe<GlobalPlacementActor.RegisterReply> reply = testKit.createTestProbe();
    rig.placement().tell(new GlobalPlacementActor.RegisterModel(spec("slow", MIB), reply.ref()));
    GpuActor.LoadModel load = rig.probe(0).expectMessageClass(GpuActor.LoadModel.class);
    rig.placement().tell(new GlobalPlacementActor.Resolve("slow", resolved.ref()));
    assertInstanceOf(GlobalPlacementActor.Loading.class, resolved.receiveMessage()); // answered at once: the frontend asks again
    load.replyTo().tell(new GpuActor.ModelLoaded(new GpuId("10.0.0.1", 25520, 0), "slow", 256, MIB));
    rig.placement().tell(new GlobalPlacementActor.Resolve("slow", resolved.ref()));
    assertInstanceOf(GlobalPlacementActor.Located.class, resolved.receiveMessage());
  }

  @Test
  void unregisteringUnloadsTheModelFromItsGpu() {
    Rig rig = rig(100 * MIB);
    TestProbe<GlobalPlacementActor.RegisterReply> reply = testKit.createTestProbe();
    rig.placement().tell(new GlobalPlacementActor.RegisterModel(spec("gone", MIB), reply.ref()));
    GpuActor.LoadModel load = rig.probe(0).expectMessageClass(GpuActor.LoadModel.class);
    load.replyTo().tell(new GpuActor.ModelLoaded(new GpuId("10.0.0.1", 25520, 0), "gone", 256, MIB));
    reply.receiveMessage();
    TestProbe<GlobalPlacementActor.Unregistered> un = testKit.createTestProbe();
    rig.placement().tell(new GlobalPlacementActor.UnregisterModel("gone", un.ref()));
    assertTrue(un.receiveMessage().existed());
    assertEquals("gone", rig.probe(0).expectMessageClass(GpuActor.UnloadModel.class).modelId());
    TestProbe<GlobalPlacementActor.ModelList> list = testKit.createTestProbe();
    rig.placement().tell(new GlobalPlacementActor.ListModels(list.ref()));
    assertEquals(List.of(), list.receiveMessage().models());
  }

  @Test
  void placesAgainTheModelsOfAGpuThatRestarted() {
    Rig rig = rig(100 * MIB, 100 * MIB);
    TestProbe<GlobalPlacementActor.RegisterReply> reply = testKit.createTestProbe();
    rig.placement().tell(new GlobalPlacementActor.RegisterModel(spec("m", MIB), reply.ref()));
    GpuActor.LoadModel load = rig.probe(0).expectMessageClass(GpuActor.LoadModel.class);
    load.replyTo().tell(new GpuActor.ModelLoaded(new GpuId("10.0.0.1", 25520, 0), "m", 256, MIB));
    reply.receiveMessage();
    rig.report(0, 100 * MIB, List.of(), 2); // new incarnation, model gone
    // placed anew: both GPUs are empty now, ties go to the lowest id
    assertEquals("m", rig.probe(0).expectMessageClass(GpuActor.LoadModel.class).spec().id());
    TestProbe<GlobalPlacementActor.Resolution> resolved = testKit.createTestProbe();
    rig.placement().tell(new GlobalPlacementActor.Resolve("m", resolved.ref()));
    assertInstanceOf(GlobalPlacementActor.Loading.class, resolved.receiveMessage()); // loading again
  }
}
