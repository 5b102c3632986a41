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
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Live migration on one node with two host GPUs: a model moves while a stream of greedy requests
 * runs; every request completes with the reference text, none fails, requests after the move run
 * on the target, and both GPUs' pages return to idle.
 */
class LiveMigrationTest {
  private static final Duration TIMEOUT = Duration.ofSeconds(90);
  private static PrismNode node;
  private static ActorTestKit kit;

  @BeforeAll
  static void start() {
    node = PrismNode.start("live-migration-test", TestSupport.config("prism.placement.round-interval = 0s\n"),
        List.of(new HostDevice(0, 64 * 1024, 1), new HostDevice(1, 64 * 1024, 1)), ModelStore.fileLoader());
    kit = ActorTestKit.create(node.system());
  }

  @AfterAll
  static void stop() {
    if (node != null) node.close();
  }

  private static TestProbe<GenerationEvent> send(String id) {
    TestProbe<GenerationEvent> p = kit.createTestProbe();
    node.generate(TestSupport.greedy(id, "mover", TestSupport.ORACLE_MAX_TOKENS), p.ref());
    return p;
  }

  @Test
  void aModelMovesUnderLoadWithoutAFailedRequestAndEveryPageComesBack() throws Exception {
    ModelInfo info = assertInstanceOf(GlobalPlacementActor.Registered.class,
        node.register(TestSupport.spec("mover", "stories260K.bin")).toCompletableFuture().get(60, TimeUnit.SECONDS)).model();
    GpuId source = info.gpu();
    GpuId target = node.localGpus().stream().filter(g -> !g.equals(source)).findFirst().orElseThrow();

    List<TestProbe<GenerationEvent>> before = new ArrayList<>();
    for (int i = 0; i < 8; i++) before.add(send("before-" + i));
    CompletionStage<GlobalPlacementActor.MoveReply> move = node.move("mover", target);
    List<TestProbe<GenerationEvent>> during = new ArrayList<>();
    for (int i = 0; i < 8; i++) during.add(send("during-" + i));
    GlobalPlacementActor.Moved moved = assertInstanceOf(GlobalPlacementActor.Moved.class, move.toCompletableFuture().get(60, TimeUnit.SECONDS));
    assertEquals(source, moved.from());
    assertEquals(target, moved.to());
    List<TestProbe<GenerationEvent>> after = new ArrayList<>();
    for (int i = 0; i < 4; i++) after.add(send("after-" + i));

    List<TestProbe<GenerationEvent>> all = new ArrayList<>(before);
    all.addAll(during);
    all.addAll(after);
    int onSource = 0;
    for (TestProbe<GenerationEvent> p : all) {
      List<GenerationEvent> events = TestSupport.collect(p, TIMEOUT);
      GenerationEvent.Started started = assertInstanceOf(GenerationEvent.Started.class, events.get(0), "no request is rejected: " + events);
      assertEquals(FinishReason.LENGTH, TestSupport.last(events, GenerationEvent.Completed.class).reason());
      assertEquals(TestSupport.oracle(), TestSupport.PROMPT + TestSupport.text(events), "same greedy output wherever it ran");
      if (started.gpu().equals(source)) onSource++;
      if (after.contains(p)) assertEquals(target, started.gpu(), "requests sent after the move run on the target");
    }
    assertTrue(onSource >= 1, "requests that started before the flip finished on the source");

    PlacementView view = node.placementView().toCompletableFuture().get(30, TimeUnit.SECONDS);
    assertEquals(1L, view.migrationsByOutcome().get("done"));
    assertEquals("done", view.recent().get(view.recent().size() - 1).outcome());
    assertTrue(view.inFlight().isEmpty());

    // the source unloads the model once drained; the target holds no page for a request
    TestProbe<Void> waiter = kit.createTestProbe();
    waiter.awaitAssert(Duration.ofSeconds(30), Duration.ofMillis(100), () -> {
      List<GpuStatus> gpus = node.gpus().toCompletableFuture().get(10, TimeUnit.SECONDS);
      for (GpuStatus g : gpus) {
        assertEquals("", g.invariantViolation());
        if (g.gpu().equals(source)) {
          assertTrue(g.models().isEmpty(), "the source unloaded the model: " + g.models());
          assertEquals(0, g.heldPages(), "every page of the source is back");
          assertEquals(0, g.weightBytes());
        } else {
          assertEquals(1, g.models().size());
          assertEquals(0, g.models().get(0).pagesInUse());
        }
      }
      return null;
    });
    ModelInfo now = node.models().toCompletableFuture().get(10, TimeUnit.SECONDS).stream().filter(m -> m.id().equals("mover")).findFirst()
        .orElseThrow();
    assertEquals(target, now.gpu());
    assertNotEquals(source, now.gpu());
  }

  @Test
  void movesOfUnknownModelsOrGpusAreRefused() throws Exception {
    GpuId gpu = node.localGpus().get(0);
    GlobalPlacementActor.MoveFailed f = assertInstanceOf(GlobalPlacementActor.MoveFailed.class,
        node.move("no-such-model", gpu).toCompletableFuture().get(10, TimeUnit.SECONDS));
    assertEquals(GlobalPlacementActor.MoveProblem.UNKNOWN_MODEL, f.problem());
    node.register(TestSupport.spec("stay", "stories260K.bin")).toCompletableFuture().get(60, TimeUnit.SECONDS);
    GpuId nowhere = new GpuId("127.0.0.1", 1, 9);
    f = assertInstanceOf(GlobalPlacementActor.MoveFailed.class, node.move("stay", nowhere).toCompletableFuture().get(10, TimeUnit.SECONDS));
    assertEquals(GlobalPlacementActor.MoveProblem.UNKNOWN_GPU, f.problem());
  }
}
