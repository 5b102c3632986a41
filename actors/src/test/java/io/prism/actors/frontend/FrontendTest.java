package io.prism.actors.frontend;

import io.prism.actors.GpuId;
import io.prism.actors.TestSupport;
import io.prism.actors.gpu.GpuActor;
import io.prism.actors.placement.GlobalPlacementActor;
import io.prism.actors.placement.ModelInfo;

import io.prism.runtime.engine.Rejection;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
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

  /** A frontend with {@code settings} over a placement probe and two GPU probes. */
  private static Rig rigWith(FrontendSettings settings) {
    TestProbe<GlobalPlacementActor.Command> placement = testKit.createTestProbe();
    Map<GpuId, TestProbe<GpuActor.Command>> gpus = Map.of(GPU_A, testKit.createTestProbe(), GPU_B, testKit.createTestProbe());
    return new Rig(testKit.spawn(Frontend.create(placement.ref(), g -> gpus.get(g).ref(), settings, false)), placement, gpus);
  }

  /** A rig with short bounds: lookups of 3 s, delivery within 300 ms, a 1 ms cache TTL. */
  private static Rig impatientRig() {
    return impatientRig(Duration.ofSeconds(3), Duration.ofSeconds(10));
  }

  /** As {@link #impatientRig()} with the given lookup timeout and give-up bound. */
  private static Rig impatientRig(Duration lookupTimeout, Duration giveUp) {
    // a cache TTL of 1 ns: every cached placement is expired by the next message (1 ms was not always
    // over on a quiet machine, and the background refresh a test expects never came)
    FrontendSettings s = new FrontendSettings(Duration.ofNanos(1), Duration.ofSeconds(5), lookupTimeout, giveUp, Duration.ofMillis(50),
        Duration.ofMillis(300), 5);
    return rigWith(s);
  }

  /** Expects the frontend's lookup of model {@code m} and answers it: {@code m} serves on {@code gpu}. */
  private static void answerLookup(Rig rig, GpuId gpu) {
    rig.placement().expectMessageClass(GlobalPlacementActor.Resolve.class).replyTo().tell(new GlobalPlacementActor.Located("m", readyOn(gpu), 0));
  }

  /**
   * Request r1 for model m through {@code rig}'s frontend, looked up on GPU A, queued (TTFT SLO 60 s),
   * started by a model actor (a probe) and one token streamed; the client has received
   * Started and the Chunk.
   */
  private static StartedStream streamWithOneToken(Rig rig, TestProbe<GenerationEvent> client) {
    rig.frontend().tell(new Frontend.Generate(TestSupport.greedy("r1", "m", 5), client.ref()));
    answerLookup(rig, GPU_A);
    GpuActor.Generate g = rig.gpus().get(GPU_A).expectMessageClass(GpuActor.Generate.class);
    TestProbe<GpuActor.Command> gpuActor = testKit.createTestProbe();
    TestProbe<io.prism.actors.model.ModelActor.Command> model = testKit.createTestProbe();
    g.replyTo().tell(new GenerationEvent.Queued("r1", GPU_A, gpuActor.ref(), 0, 60_000));
    g.replyTo().tell(new GenerationEvent.Started("r1", "m", GPU_A, 3, model.ref()));
    g.replyTo().tell(new GenerationEvent.Chunk("r1", "a", 7, 0));
    assertInstanceOf(GenerationEvent.Started.class, client.receiveMessage());
    assertInstanceOf(GenerationEvent.Chunk.class, client.receiveMessage());
    return new StartedStream(g, model);
  }

  /** A started stream: the GPU's Generate (its {@code replyTo} is the request's relay) and the model actor's probe. */
  private record StartedStream(GpuActor.Generate generate, TestProbe<io.prism.actors.model.ModelActor.Command> model) {}

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
    answerLookup(rig, GPU_A);
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
      answerLookup(rig, GPU_A);
      GpuActor.Generate g = rig.gpus().get(GPU_A).expectMessageClass(GpuActor.Generate.class);
      g.frontend().tell(new Frontend.Misrouted(g.request(), g.replyTo(), GPU_A, g.attempt(), null, 0));
      if (g.attempt() == 2) break;
    }
    assertEquals(Rejection.Kind.UNAVAILABLE, assertInstanceOf(GenerationEvent.Rejected.class, client.receiveMessage()).kind());
  }

  @Test
  void aModelStillLoadingIsAskedForAgainUntilItIsPlaced() {
    Rig rig = impatientRig();
    TestProbe<GenerationEvent> client = testKit.createTestProbe();
    rig.frontend().tell(new Frontend.Generate(TestSupport.greedy("r1", "m", 5), client.ref()));
    rig.placement().expectMessageClass(GlobalPlacementActor.Resolve.class).replyTo().tell(new GlobalPlacementActor.Loading("m"));
    rig.placement().expectMessageClass(GlobalPlacementActor.Resolve.class).replyTo().tell(new GlobalPlacementActor.Located("m", readyOn(GPU_B), 0));
    assertEquals("r1", rig.gpus().get(GPU_B).expectMessageClass(GpuActor.Generate.class).request().requestId());
  }

  @Test
  void aPlacementUnusedForIdleLookupAfterIsLookedUpBeforeUseSoAnEvictedModelCanBeReactivatedElsewhere() {
    TestProbe<GlobalPlacementActor.Command> placement = testKit.createTestProbe();
    Map<GpuId, TestProbe<GpuActor.Command>> gpus = Map.of(GPU_A, testKit.createTestProbe(), GPU_B, testKit.createTestProbe());
    FrontendSettings s = new FrontendSettings(Duration.ofMinutes(1), Duration.ofSeconds(5), Duration.ofSeconds(3), Duration.ofSeconds(10),
        Duration.ofMillis(50), Duration.ofMillis(300), 5, Duration.ofNanos(1));
    ActorRef<Frontend.Command> f = testKit.spawn(Frontend.create(placement.ref(), g -> gpus.get(g).ref(), s, false));
    TestProbe<GenerationEvent> client = testKit.createTestProbe();
    f.tell(new Frontend.Generate(TestSupport.greedy("r1", "m", 5), client.ref()));
    placement.expectMessageClass(GlobalPlacementActor.Resolve.class).replyTo().tell(new GlobalPlacementActor.Located("m", readyOn(GPU_A), 0));
    gpus.get(GPU_A).expectMessageClass(GpuActor.Generate.class);
    // unused since (1 ns): asked again although the cache entry has not expired; the placement moved it
    f.tell(new Frontend.Generate(TestSupport.greedy("r2", "m", 5), client.ref()));
    placement.expectMessageClass(GlobalPlacementActor.Resolve.class).replyTo().tell(new GlobalPlacementActor.Loading("m"));
    placement.expectMessageClass(GlobalPlacementActor.Resolve.class).replyTo().tell(new GlobalPlacementActor.Located("m", readyOn(GPU_B), 1));
    assertEquals("r2", gpus.get(GPU_B).expectMessageClass(GpuActor.Generate.class).request().requestId());
    gpus.get(GPU_A).expectNoMessage(Duration.ofMillis(100));
  }

  @Test
  void whileThePlacementIsSilentModelsResolvedBeforeAreServedFromTheirLastKnownGpu() {
    Rig rig = impatientRig();
    TestProbe<GenerationEvent> client = testKit.createTestProbe();
    rig.frontend().tell(new Frontend.Generate(TestSupport.greedy("r1", "m", 5), client.ref()));
    answerLookup(rig, GPU_A);
    rig.gpus().get(GPU_A).expectMessageClass(GpuActor.Generate.class);
    // the cache entry expired (1 ms) and the singleton answers nothing now: the request still goes to GPU A
    rig.frontend().tell(new Frontend.Generate(TestSupport.greedy("r2", "m", 5), client.ref()));
    assertEquals("r2", rig.gpus().get(GPU_A).expectMessageClass(GpuActor.Generate.class).request().requestId());
    rig.placement().expectMessageClass(GlobalPlacementActor.Resolve.class); // the background refresh, unanswered
  }

  @Test
  void lookupsTheSingletonNeverAnswersEndWithARetryable503() {
    Rig rig = impatientRig(Duration.ofMillis(100), Duration.ofMillis(600));
    TestProbe<GenerationEvent> client = testKit.createTestProbe();
    rig.frontend().tell(new Frontend.Generate(TestSupport.greedy("r1", "never-seen", 5), client.ref()));
    GenerationEvent.Rejected r = assertInstanceOf(GenerationEvent.Rejected.class, client.receiveMessage(Duration.ofSeconds(5)));
    assertEquals(Rejection.Kind.UNAVAILABLE, r.kind());
    assertTrue(r.rejection().retryAfterSeconds() > 0, "a retry can succeed");
    assertTrue(rig.placement().receiveSeveralMessages(2).stream().allMatch(m -> m instanceof GlobalPlacementActor.Resolve), "asked again");
  }

  @Test
  void nothingIsSentToAGpuOfAnUnreachableNode() {
    Rig rig = impatientRig();
    TestProbe<GenerationEvent> client = testKit.createTestProbe();
    rig.frontend().tell(new Frontend.NodeAvailability(GPU_A.host(), GPU_A.port(), false));
    rig.frontend().tell(new Frontend.Generate(TestSupport.greedy("r1", "m", 5), client.ref()));
    answerLookup(rig, GPU_A);
    GenerationEvent.Rejected r = assertInstanceOf(GenerationEvent.Rejected.class, client.receiveMessage());
    assertEquals(5, r.rejection().retryAfterSeconds());
    rig.gpus().get(GPU_A).expectNoMessage(Duration.ofMillis(100));
    // the node is back: requests flow again
    rig.frontend().tell(new Frontend.NodeAvailability(GPU_A.host(), GPU_A.port(), true));
    rig.frontend().tell(new Frontend.Generate(TestSupport.greedy("r2", "m", 5), client.ref()));
    answerLookup(rig, GPU_A);
    assertEquals("r2", rig.gpus().get(GPU_A).expectMessageClass(GpuActor.Generate.class).request().requestId());
  }

  @Test
  void aGpuThatDoesNotTakeARequestInTimeFailsItWithARetryable503() {
    Rig rig = impatientRig();
    TestProbe<GenerationEvent> client = testKit.createTestProbe();
    rig.frontend().tell(new Frontend.Generate(TestSupport.greedy("r1", "m", 5), client.ref()));
    answerLookup(rig, GPU_A);
    rig.gpus().get(GPU_A).expectMessageClass(GpuActor.Generate.class); // and never answered
    GenerationEvent.Rejected r = assertInstanceOf(GenerationEvent.Rejected.class, client.receiveMessage(Duration.ofSeconds(3)));
    assertEquals(Rejection.Kind.UNAVAILABLE, r.kind());
    assertTrue(r.rejection().retryAfterSeconds() > 0);
  }

  @Test
  void aStreamWhoseModelActorStopsEndsWithAFailureAndTheTokensSoFar() {
    Rig rig = impatientRig();
    TestProbe<GenerationEvent> client = testKit.createTestProbe();
    streamWithOneToken(rig, client).model().stop(); // its node died
    GenerationEvent.Completed done = assertInstanceOf(GenerationEvent.Completed.class, client.receiveMessage(Duration.ofSeconds(3)));
    assertEquals(io.prism.runtime.engine.FinishReason.FAILED, done.reason());
    assertEquals(1, done.completionTokens());
    assertEquals(3, done.promptTokens());
  }

  @Test
  void aRequestQueuedAtAGpuThatStopsIsRefusedWithARetry() {
    Rig rig = impatientRig();
    TestProbe<GenerationEvent> client = testKit.createTestProbe();
    rig.frontend().tell(new Frontend.Generate(TestSupport.greedy("r1", "m", 5), client.ref()));
    answerLookup(rig, GPU_A);
    GpuActor.Generate g = rig.gpus().get(GPU_A).expectMessageClass(GpuActor.Generate.class);
    TestProbe<GpuActor.Command> gpuActor = testKit.createTestProbe();
    g.replyTo().tell(new GenerationEvent.Queued("r1", GPU_A, gpuActor.ref(), 0, 60_000));
    client.expectNoMessage(Duration.ofMillis(500)); // longer than the delivery bound: queued, so it waits
    gpuActor.stop();
    GenerationEvent.Rejected r = assertInstanceOf(GenerationEvent.Rejected.class, client.receiveMessage(Duration.ofSeconds(3)));
    assertTrue(r.rejection().retryAfterSeconds() > 0);
  }

  /** A rig whose relays refuse a queued request 300 ms past its start bound and end a stream silent for 500 ms. */
  private static Rig stallBoundRig() {
    return rigWith(new FrontendSettings(Duration.ofMillis(1), Duration.ofSeconds(5), Duration.ofSeconds(3), Duration.ofSeconds(10),
        Duration.ofMillis(50), Duration.ofMillis(300), 5, Duration.ofSeconds(30), Duration.ofMillis(300), Duration.ofMillis(500),
        Duration.ofMillis(400)));
  }

  @Test
  void aQueuedRequestNotStartedWithinItsTtftSloPlusGraceIsRefusedWithARetryAndLeavesTheGpu() {
    Rig rig = stallBoundRig();
    TestProbe<GenerationEvent> client = testKit.createTestProbe();
    rig.frontend().tell(new Frontend.Generate(TestSupport.greedy("r1", "m", 5), client.ref()));
    answerLookup(rig, GPU_A);
    GpuActor.Generate g = rig.gpus().get(GPU_A).expectMessageClass(GpuActor.Generate.class);
    TestProbe<GpuActor.Command> gpuActor = testKit.createTestProbe();
    TestProbe<Object> relayWatch = testKit.createTestProbe();
    g.replyTo().tell(new GenerationEvent.Queued("r1", GPU_A, gpuActor.ref(), 0, 400)); // the GPU's device stalls: never started
    client.expectNoMessage(Duration.ofMillis(300)); // within the TTFT SLO: it waits
    GenerationEvent.Rejected r = assertInstanceOf(GenerationEvent.Rejected.class, client.receiveMessage(Duration.ofSeconds(3)));
    assertEquals(Rejection.Kind.UNAVAILABLE, r.kind());
    assertTrue(r.rejection().retryAfterSeconds() > 0, "retryable: " + r.rejection());
    assertTrue(r.rejection().message().contains("did not start"), r.rejection().message());
    relayWatch.expectTerminated(g.replyTo(), Duration.ofSeconds(3)); // the GPU and model actors watch the relay: its stop drops the request there
  }

  @Test
  void aStartedRequestThatStartsInTimeIsNotRefusedByTheStartBound() {
    Rig rig = stallBoundRig();
    TestProbe<GenerationEvent> client = testKit.createTestProbe();
    rig.frontend().tell(new Frontend.Generate(TestSupport.greedy("r1", "m", 5), client.ref()));
    answerLookup(rig, GPU_A);
    GpuActor.Generate g = rig.gpus().get(GPU_A).expectMessageClass(GpuActor.Generate.class);
    TestProbe<GpuActor.Command> gpuActor = testKit.createTestProbe();
    TestProbe<io.prism.actors.model.ModelActor.Command> model = testKit.createTestProbe();
    g.replyTo().tell(new GenerationEvent.Queued("r1", GPU_A, gpuActor.ref(), 0, 100));
    g.replyTo().tell(new GenerationEvent.Started("r1", "m", GPU_A, 3, model.ref()));
    assertInstanceOf(GenerationEvent.Started.class, client.receiveMessage());
    for (int i = 0; i < 4; i++) { // 4 x 200 ms: past the start bound (400 ms) and the token bound's 500 ms in total, never a gap of 500 ms
      client.expectNoMessage(Duration.ofMillis(200));
      g.replyTo().tell(new GenerationEvent.Chunk("r1", "a", 7, 0));
      assertInstanceOf(GenerationEvent.Chunk.class, client.receiveMessage());
    }
    g.replyTo().tell(new GenerationEvent.Completed("r1", io.prism.runtime.engine.FinishReason.LENGTH, "", 3, 4, ""));
    assertEquals(io.prism.runtime.engine.FinishReason.LENGTH,
        assertInstanceOf(GenerationEvent.Completed.class, client.receiveMessage()).reason());
  }

  @Test
  void aStreamWithNoTokenForTheTokenTimeoutEndsAsFailedWithTheTokensSoFar() {
    Rig rig = stallBoundRig();
    TestProbe<GenerationEvent> client = testKit.createTestProbe();
    GpuActor.Generate g = streamWithOneToken(rig, client).generate();
    client.expectNoMessage(Duration.ofMillis(300)); // the device stalls; within the token bound nothing happens
    GenerationEvent.Completed done = assertInstanceOf(GenerationEvent.Completed.class, client.receiveMessage(Duration.ofSeconds(3)));
    assertEquals(io.prism.runtime.engine.FinishReason.FAILED, done.reason());
    assertEquals(1, done.completionTokens());
    TestProbe<Object> relayWatch = testKit.createTestProbe();
    relayWatch.expectTerminated(g.replyTo(), Duration.ofSeconds(3)); // the model actor watches the relay: it cancels the request
  }

  /** A rig with long stall bounds and an unreachable grace of 400 ms. */
  private static Rig unreachableRig() {
    return rigWith(new FrontendSettings(Duration.ofMillis(1), Duration.ofSeconds(5), Duration.ofSeconds(3), Duration.ofSeconds(10),
        Duration.ofMillis(50), Duration.ofSeconds(30), 5, Duration.ofSeconds(30), Duration.ofSeconds(30), Duration.ofSeconds(60),
        Duration.ofMillis(400)));
  }

  @Test
  void requestsOnANodeThatBecomesUnreachableEndUnlessTheyShowASignOfLifeWithinTheGrace() {
    Rig rig = unreachableRig();
    TestProbe<GenerationEvent> queuedClient = testKit.createTestProbe();
    TestProbe<GenerationEvent> silentClient = testKit.createTestProbe();
    TestProbe<GenerationEvent> liveClient = testKit.createTestProbe();
    TestProbe<GenerationEvent> otherNodeClient = testKit.createTestProbe();
    rig.frontend().tell(new Frontend.Generate(TestSupport.greedy("q", "m", 5), queuedClient.ref()));
    answerLookup(rig, GPU_A);
    GpuActor.Generate q = rig.gpus().get(GPU_A).expectMessageClass(GpuActor.Generate.class);
    rig.frontend().tell(new Frontend.Generate(TestSupport.greedy("s", "m", 5), silentClient.ref()));
    rig.frontend().tell(new Frontend.Generate(TestSupport.greedy("l", "m", 5), liveClient.ref()));
    GpuActor.Generate silent = rig.gpus().get(GPU_A).expectMessageClass(GpuActor.Generate.class);
    GpuActor.Generate live = rig.gpus().get(GPU_A).expectMessageClass(GpuActor.Generate.class);
    TestProbe<GpuActor.Command> gpuActor = testKit.createTestProbe();
    TestProbe<io.prism.actors.model.ModelActor.Command> model = testKit.createTestProbe();
    q.replyTo().tell(new GenerationEvent.Queued("q", GPU_A, gpuActor.ref(), 0, 60_000));
    for (GpuActor.Generate g : List.of(silent, live)) {
      g.replyTo().tell(new GenerationEvent.Queued(g.request().requestId(), GPU_A, gpuActor.ref(), 0, 60_000));
      g.replyTo().tell(new GenerationEvent.Started(g.request().requestId(), "m", GPU_A, 3, model.ref()));
    }
    assertInstanceOf(GenerationEvent.Started.class, silentClient.receiveMessage());
    assertInstanceOf(GenerationEvent.Started.class, liveClient.receiveMessage());
    // a request on GPU_B (another node) is not concerned
    TestProbe<GpuActor.Command> gpuActorB = testKit.createTestProbe();
    rig.frontend().tell(new Frontend.Generate(TestSupport.greedy("o", "m", 5), otherNodeClient.ref()));
    GpuActor.Generate other = rig.gpus().get(GPU_A).expectMessageClass(GpuActor.Generate.class); // cached placement: GPU_A
    other.replyTo().tell(new GenerationEvent.Queued("o", GPU_B, gpuActorB.ref(), 0, 60_000)); // a GPU that took it after a redirect

    rig.frontend().tell(new Frontend.NodeAvailability(GPU_A.host(), GPU_A.port(), false)); // GPU_A's node crashed (or stalls)
    for (int i = 0; i < 4; i++) { // the live stream keeps delivering tokens past the grace (4 x 200 ms)
      live.replyTo().tell(new GenerationEvent.Chunk("l", "a", 7, 0));
      assertInstanceOf(GenerationEvent.Chunk.class, liveClient.receiveMessage());
      liveClient.expectNoMessage(Duration.ofMillis(200));
    }
    GenerationEvent.Rejected r = assertInstanceOf(GenerationEvent.Rejected.class, queuedClient.receiveMessage(Duration.ofSeconds(3)));
    assertTrue(r.rejection().retryAfterSeconds() > 0, "queued: retryable " + r.rejection());
    GenerationEvent.Completed cut = assertInstanceOf(GenerationEvent.Completed.class, silentClient.receiveMessage(Duration.ofSeconds(3)));
    assertEquals(io.prism.runtime.engine.FinishReason.FAILED, cut.reason());
    live.replyTo().tell(new GenerationEvent.Completed("l", io.prism.runtime.engine.FinishReason.LENGTH, "", 3, 4, ""));
    assertEquals(io.prism.runtime.engine.FinishReason.LENGTH, assertInstanceOf(GenerationEvent.Completed.class, liveClient.receiveMessage()).reason());
    otherNodeClient.expectNoMessage(Duration.ofMillis(300)); // still waiting on GPU_B, whose node is fine
  }
}
