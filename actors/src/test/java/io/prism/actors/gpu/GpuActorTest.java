package io.prism.actors.gpu;

import io.prism.actors.GpuId;
import io.prism.actors.PrismSettings;
import io.prism.actors.TestSupport;
import io.prism.actors.frontend.GenerateRequest;
import io.prism.actors.frontend.GenerationEvent;
import io.prism.actors.model.ModelStore;
import io.prism.actors.placement.GlobalPlacementActor;

import io.prism.runtime.engine.Rejection;
import static io.prism.actors.TestSupport.collect;
import static io.prism.actors.TestSupport.greedy;
import static io.prism.actors.TestSupport.last;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.engine.FinishReason;
import io.prism.runtime.sampling.SamplingParams;
import io.prism.runtime.forward.HostDevice;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A GPU actor with its page pool and model actors on a host device, serving stories260K; every
 * message serialized. Checks after each scenario that every page is back in the pool (prefix
 * caching off, so an idle model keeps none).
 */
class GpuActorTest {
  private static final Duration TIMEOUT = Duration.ofSeconds(30);
  private static final String MODEL = "stories260K";

  private static ActorTestKit testKit;
  private static HostDevice device;
  private static ActorRef<GpuActor.Command> gpu;
  private static TestProbe<GlobalPlacementActor.Command> placement;

  @BeforeAll
  static void start() {
    // no prefix cache and no kept empty page ids: once idle, a model holds no page at all
    testKit = ActorTestKit.create("gpu-actor-test", TestSupport.config("prism.engine.prefix-caching = off\nprism.engine.reserve-page-ids = 0"));
    PrismSettings settings = PrismSettings.from(testKit.system().settings().config());
    device = new HostDevice(0, 64 * 1024, 1);
    ModelStore store = new ModelStore(ModelStore.fileLoader(), Executors.newCachedThreadPool());
    placement = testKit.createTestProbe(GlobalPlacementActor.Command.class);
    GpuId id = new GpuId("127.0.0.1", 25520, 0);
    gpu = testKit.spawn(GpuActor.create(id, device, store, settings, placement.ref()), "gpu-0");
    TestProbe<GpuActor.LoadReply> loaded = testKit.createTestProbe();
    gpu.tell(new GpuActor.LoadModel(TestSupport.spec(MODEL, "stories260K.bin"), loaded.ref()));
    GpuActor.ModelLoaded ok = assertInstanceOf(GpuActor.ModelLoaded.class, loaded.receiveMessage(TIMEOUT));
    assertEquals(512, ok.maxModelLen());
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
    device.close();
  }

  private static GpuStatus status() {
    TestProbe<GpuStatus> p = testKit.createTestProbe();
    gpu.tell(new GpuActor.GetStatus(p.ref()));
    return p.receiveMessage(TIMEOUT);
  }

  /** Every page is back: none held, the pool's own invariant holds, the engine is idle. */
  private static void assertEveryPageBack() {
    TestProbe<GpuStatus> p = testKit.createTestProbe();
    p.awaitAssert(TIMEOUT, () -> {
      GpuStatus s = status();
      assertEquals("", s.invariantViolation());
      assertEquals(0, s.heldPages(), "pages held: " + s);
      for (GpuStatus.ModelStatus m : s.models()) assertEquals(0, m.waiting() + m.running(), "queues: " + m);
      return null;
    });
  }

  @Test
  void streamsTheReferenceGreedyCompletion() {
    TestProbe<GenerationEvent> probe = testKit.createTestProbe();
    gpu.tell(new GpuActor.Generate(greedy("ref-1", MODEL, TestSupport.ORACLE_MAX_TOKENS), probe.ref(), null, 0));
    List<GenerationEvent> events = collect(probe, TIMEOUT);
    GenerationEvent.Started started = assertInstanceOf(GenerationEvent.Started.class, events.get(0));
    assertEquals(5, started.promptTokens());
    GenerationEvent.Completed done = last(events, GenerationEvent.Completed.class);
    assertEquals(FinishReason.LENGTH, done.reason());
    assertEquals(TestSupport.ORACLE_MAX_TOKENS, done.completionTokens());
    assertEquals(TestSupport.oracle(), TestSupport.PROMPT + TestSupport.text(events));
    assertEveryPageBack();
  }

  @Test
  void modelActorThatCrashesMidGenerationFailsEveryRequestReturnsItsPagesAndIsRestarted() {
    List<TestProbe<GenerationEvent>> probes = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      TestProbe<GenerationEvent> p = testKit.createTestProbe();
      SamplingParams params = new SamplingParams(0.8f, 0.95f, 0, 100L + i, 400, List.of(), true);
      gpu.tell(new GpuActor.Generate(new GenerateRequest("crash-" + i, MODEL, TestSupport.PROMPT, null, true, params), p.ref(), null, 0));
      probes.add(p);
    }
    for (TestProbe<GenerationEvent> p : probes) {
      assertInstanceOf(GenerationEvent.Started.class, p.receiveMessage(TIMEOUT));
      assertInstanceOf(GenerationEvent.Chunk.class, p.receiveMessage(TIMEOUT));
    }
    assertTrue(status().heldPages() > 0, "requests in flight hold pages");

    gpu.tell(new GpuActor.InjectModelFault(MODEL, "test crash"));

    for (TestProbe<GenerationEvent> p : probes) {
      GenerationEvent.Completed done = last(collect(p, TIMEOUT), GenerationEvent.Completed.class);
      assertEquals(FinishReason.FAILED, done.reason());
      assertTrue(done.message().contains("test crash"), done.message());
      assertTrue(done.completionTokens() < 400, "ended mid-generation");
    }
    assertEveryPageBack();
    // restarted: it serves again, and the GPU reports it resident
    TestProbe<GenerationEvent> after = testKit.createTestProbe();
    gpu.tell(new GpuActor.Generate(greedy("after-crash", MODEL, 20), after.ref(), null, 0));
    assertEquals(FinishReason.LENGTH, last(collect(after, TIMEOUT), GenerationEvent.Completed.class).reason());
    placement.fishForMessage(TIMEOUT, m -> m instanceof GlobalPlacementActor.GpuReport r && r.models().size() == 1
        ? org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes.complete()
        : org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes.continueAndIgnore());
    assertEveryPageBack();
  }

  @Test
  void requesterThatStopsMidStreamCancelsItsSequenceAndItsPagesGoBack() {
    TestProbe<GenerationEvent> seen = testKit.createTestProbe();
    Behavior<GenerationEvent> quitter = Behaviors.receive((ctx, e) -> {
      seen.ref().tell(e);
      return e instanceof GenerationEvent.Chunk ? Behaviors.stopped() : Behaviors.same();
    });
    ActorRef<GenerationEvent> client = testKit.spawn(quitter);
    SamplingParams params = new SamplingParams(0f, 1f, 0, 1L, 500, List.of(), true);
    gpu.tell(new GpuActor.Generate(new GenerateRequest("quit-1", MODEL, TestSupport.PROMPT, null, true, params), client, null, 0));
    assertInstanceOf(GenerationEvent.Started.class, seen.receiveMessage(TIMEOUT));
    assertInstanceOf(GenerationEvent.Chunk.class, seen.receiveMessage(TIMEOUT));
    assertEveryPageBack();
  }

  @Test
  void rejectsPromptPlusMaxTokensOverTheContext() {
    TestProbe<GenerationEvent> probe = testKit.createTestProbe();
    gpu.tell(new GpuActor.Generate(greedy("too-long", MODEL, 600), probe.ref(), null, 0));
    GenerationEvent.Rejected r = assertInstanceOf(GenerationEvent.Rejected.class, probe.receiveMessage(TIMEOUT));
    assertEquals(Rejection.Kind.CONTEXT_LENGTH_EXCEEDED, r.kind());
    assertTrue(r.message().contains("maximum context length is 512 tokens"), r.message());
  }

  @Test
  void rejectsARequestThatNeedsMorePagesThanItsModelsMaximumRatherThanQueueingItForever() {
    // one page id of stories260K on 64 KiB host pages is 10 pool pages (K and V of 5 layers): a cap of 5 admits no request
    TestProbe<GpuActor.LoadReply> loaded = testKit.createTestProbe();
    gpu.tell(new GpuActor.LoadModel(TestSupport.spec("capped", "stories260K.bin").withLimits(0, 5), loaded.ref()));
    assertInstanceOf(GpuActor.ModelLoaded.class, loaded.receiveMessage(TIMEOUT));
    try {
      TestProbe<GenerationEvent> probe = testKit.createTestProbe();
      gpu.tell(new GpuActor.Generate(greedy("over-max", "capped", 8), probe.ref(), null, 0));
      GenerationEvent.Rejected r = assertInstanceOf(GenerationEvent.Rejected.class, probe.receiveMessage(TIMEOUT));
      assertEquals(Rejection.Kind.INVALID_REQUEST, r.kind());
      assertTrue(r.message().contains("KV pages"), r.message());
    } finally {
      gpu.tell(new GpuActor.UnloadModel("capped"));
    }
  }

  @Test
  void rejectsAModelThatIsNotOnThisGpu() {
    TestProbe<GenerationEvent> probe = testKit.createTestProbe();
    gpu.tell(new GpuActor.Generate(greedy("nowhere", "no-such-model", 5), probe.ref(), null, 0));
    assertEquals(Rejection.Kind.UNAVAILABLE, assertInstanceOf(GenerationEvent.Rejected.class, probe.receiveMessage(TIMEOUT)).kind());
  }
}
