package io.prism.actors.frontend;

import io.prism.actors.GpuId;
import io.prism.actors.TestSupport;
import io.prism.actors.gpu.GpuActor;
import io.prism.actors.placement.GlobalPlacementActor;
import io.prism.actors.placement.ModelInfo;

import io.prism.runtime.engine.Rejection;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import java.time.Duration;
import java.util.Map;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The frontend's routing against a placement and GPUs played by probes. */
class FrontendTest {
  private static final GpuId GPU_A = new GpuId("10.0.0.1", 25520, 0);
  private static final GpuId GPU_B = new GpuId("10.0.0.2", 25520, 0);
  private static ActorTestKit testKit;

  @BeforeAll
  static void start() {
    testKit = ActorTestKit.create("frontend-test", TestSupport.config(""));
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  private record Rig(ActorRef<Frontend.Command> frontend, TestProbe<GlobalPlacementActor.Command> placement,
      Map<GpuId, TestProbe<GpuActor.Command>> gpus) {}

  private static Rig rig() {
    TestProbe<GlobalPlacementActor.Command> placement = testKit.createTestProbe();
    Map<GpuId, TestProbe<GpuActor.Command>> gpus = Map.of(GPU_A, testKit.createTestProbe(), GPU_B, testKit.createTestProbe());
    ActorRef<Frontend.Command> f = testKit.spawn(Frontend.create(placement.ref(), g -> gpus.get(g).ref(), Duration.ofMinutes(1),
        Duration.ofSeconds(5)));
    return new Rig(f, placement, gpus);
  }

  private static ModelInfo readyOn(GpuId gpu) {
    return new ModelInfo(TestSupport.spec("m", "stories260K.bin"), 0, ModelInfo.State.READY, gpu, 512, 1, "");
  }

  @Test
  void resolvesOnceAndForwardsRequestsToTheModelsGpu() {
    Rig rig = rig();
    TestProbe<GenerationEvent> client = testKit.createTestProbe();
    rig.frontend().tell(new Frontend.Generate(TestSupport.greedy("r1", "m", 5), client.ref()));
    rig.frontend().tell(new Frontend.Generate(TestSupport.greedy("r2", "m", 5), client.ref()));
    GlobalPlacementActor.Resolve resolve = rig.placement().expectMessageClass(GlobalPlacementActor.Resolve.class);
    resolve.replyTo().tell(new GlobalPlacementActor.Located("m", readyOn(GPU_A), 0));
    assertEquals("r1", rig.gpus().get(GPU_A).expectMessageClass(GpuActor.Generate.class).request().requestId());
    assertEquals("r2", rig.gpus().get(GPU_A).expectMessageClass(GpuActor.Generate.class).request().requestId());
    rig.frontend().tell(new Frontend.Generate(TestSupport.greedy("r3", "m", 5), client.ref()));
    assertEquals("r3", rig.gpus().get(GPU_A).expectMessageClass(GpuActor.Generate.class).request().requestId());
    rig.placement().expectNoMessage(Duration.ofMillis(100)); // cached
  }

  @Test
  void aRequestSentBackByAGpuIsResolvedAgainAndFollowsTheModel() {
    Rig rig = rig();
    TestProbe<GenerationEvent> client = testKit.createTestProbe();
    rig.frontend().tell(new Frontend.Generate(TestSupport.greedy("r1", "m", 5), client.ref()));
    rig.placement().expectMessageClass(GlobalPlacementActor.Resolve.class).replyTo().tell(new GlobalPlacementActor.Located("m", readyOn(GPU_A), 0));
    GpuActor.Generate first = rig.gpus().get(GPU_A).expectMessageClass(GpuActor.Generate.class);
    first.frontend().tell(new Frontend.Misrouted(first.request(), first.replyTo(), GPU_A, first.attempt(), null, 0));
    rig.placement().expectMessageClass(GlobalPlacementActor.Resolve.class).replyTo().tell(new GlobalPlacementActor.Located("m", readyOn(GPU_B), 0));
    GpuActor.Generate second = rig.gpus().get(GPU_B).expectMessageClass(GpuActor.Generate.class);
    assertEquals(1, second.attempt());
  }

  @Test
  void unknownModelsAreRejectedAndAModelThatKeepsMovingIsUnavailable() {
    Rig rig = rig();
    TestProbe<GenerationEvent> client = testKit.createTestProbe();
    rig.frontend().tell(new Frontend.Generate(TestSupport.greedy("r1", "ghost", 5), client.ref()));
    rig.placement().expectMessageClass(GlobalPlacementActor.Resolve.class).replyTo().tell(new GlobalPlacementActor.NotFound("ghost"));
    GenerationEvent.Rejected notFound = assertInstanceOf(GenerationEvent.Rejected.class, client.receiveMessage());
    assertEquals(Rejection.Kind.MODEL_NOT_FOUND, notFound.kind());
    assertEquals("model", notFound.param());

    rig.frontend().tell(new Frontend.Generate(TestSupport.greedy("r2", "m", 5), client.ref()));
    for (int attempt = 0; attempt < 3; attempt++) {
      rig.placement().expectMessageClass(GlobalPlacementActor.Resolve.class).replyTo().tell(new GlobalPlacementActor.Located("m", readyOn(GPU_A), 0));
      GpuActor.Generate g = rig.gpus().get(GPU_A).expectMessageClass(GpuActor.Generate.class);
      g.frontend().tell(new Frontend.Misrouted(g.request(), g.replyTo(), GPU_A, g.attempt(), null, 0));
      if (g.attempt() == 2) break;
    }
    assertEquals(Rejection.Kind.UNAVAILABLE, assertInstanceOf(GenerationEvent.Rejected.class, client.receiveMessage()).kind());
  }
}
