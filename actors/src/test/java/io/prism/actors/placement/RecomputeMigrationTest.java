package io.prism.actors.placement;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.actors.GpuId;
import io.prism.actors.PrismNode;
import io.prism.actors.TestSupport;
import io.prism.actors.frontend.GenerationEvent;
import io.prism.actors.gpu.GpuEvent;
import io.prism.actors.gpu.GpuStatus;
import io.prism.actors.model.ModelStore;
import io.prism.runtime.engine.FinishReason;
import io.prism.runtime.forward.HostDevice;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Live migration with a drain timeout so short that requests are still running on the source when
 * it ends: they continue on the target by recompute. Every request completes with the reference
 * text (greedy), each streams exactly one {@code Started} and its tokens once, with contiguous
 * indices and the full usage; the source reports requests handed over; both GPUs' pages return to
 * idle.
 */
class RecomputeMigrationTest {
  private static final Duration TIMEOUT = Duration.ofSeconds(120);
  private static final Pattern HANDED_OVER = Pattern.compile("^(\\d+) requests still here at the drain timeout continue on");
  private static PrismNode node;
  private static ActorTestKit kit;

  /**
   * One running sequence per model and {@link #QUEUED} requests sent before the move: the source
   * has {@code QUEUED x 252} decode steps of work at the flip, far more than the move takes on any
   * machine (the model is 1 MB), so requests are certainly left at a 5 ms drain timeout; they are
   * the running one and those waiting in the source's engine queue.
   */
  private static final int QUEUED = 40;

  @BeforeAll
  static void start() {
    node = PrismNode.start("recompute-migration-test",
        TestSupport.config("prism.placement.round-interval = 0s\nprism.placement.drain-timeout = 5ms\nprism.engine.max-running-sequences = 1\n"),
        List.of(new HostDevice(0, 64 * 1024, 1), new HostDevice(1, 64 * 1024, 1)), ModelStore.fileLoader());
    kit = ActorTestKit.create(node.system());
  }

  @AfterAll
  static void stop() {
    if (node != null) node.close();
  }

  /** Loose SLOs: on two shared cores, deadline admission would refuse some of the load (this test is about the move). */
  private static io.prism.actors.ModelSpec relaxed(io.prism.actors.ModelSpec s) {
    return new io.prism.actors.ModelSpec(s.id(), s.source(), s.tokenizer(), Duration.ofMinutes(5), Duration.ofSeconds(30), s.estimatedBytes());
  }

  private static TestProbe<GenerationEvent> send(String id) {
    TestProbe<GenerationEvent> p = kit.createTestProbe();
    node.generate(TestSupport.greedy(id, "recomputed", TestSupport.ORACLE_MAX_TOKENS), p.ref());
    return p;
  }

  @Test
  void requestsLeftAtTheDrainTimeoutContinueOnTheTargetWithTheSameOutput() throws Exception {
    ModelInfo info = assertInstanceOf(GlobalPlacementActor.Registered.class,
        node.register(relaxed(TestSupport.spec("recomputed", "stories260K.bin"))).toCompletableFuture().get(60, TimeUnit.SECONDS)).model();
    GpuId source = info.gpu();
    GpuId target = node.localGpus().stream().filter(g -> !g.equals(source)).findFirst().orElseThrow();

    List<TestProbe<GenerationEvent>> probes = new ArrayList<>();
    for (int i = 0; i < QUEUED; i++) probes.add(send("queued-" + i));
    // the source is generating before the move starts
    GenerationEvent firstEvent = probes.get(0).receiveMessage(TIMEOUT);
    assertInstanceOf(GenerationEvent.Started.class, firstEvent);
    CompletableFuture<GlobalPlacementActor.MoveReply> move = node.move("recomputed", target).toCompletableFuture();
    assertInstanceOf(GlobalPlacementActor.Moved.class, move.get(60, TimeUnit.SECONDS));
    for (int i = 0; i < 4; i++) probes.add(send("after-" + i));

    String oracle = TestSupport.oracle();
    for (TestProbe<GenerationEvent> p : probes) {
      List<GenerationEvent> events = new ArrayList<>();
      if (p == probes.get(0)) events.add(firstEvent);
      events.addAll(TestSupport.collect(p, TIMEOUT));
      assertInstanceOf(GenerationEvent.Started.class, events.get(0), "no request is rejected: " + events);
      int started = 0;
      int index = 0;
      for (GenerationEvent e : events) {
        if (e instanceof GenerationEvent.Started) started++;
        if (e instanceof GenerationEvent.Routing) throw new AssertionError("a routing event reached the client: " + e);
        if (e instanceof GenerationEvent.Chunk c) assertEquals(index++, c.index(), "token indices continue without a gap or a repeat");
      }
      assertEquals(1, started, "one Started per request");
      GenerationEvent.Completed done = TestSupport.last(events, GenerationEvent.Completed.class);
      assertEquals(FinishReason.LENGTH, done.reason(), () -> "completed: " + done);
      assertEquals(TestSupport.ORACLE_MAX_TOKENS, done.completionTokens());
      assertEquals(TestSupport.ORACLE_MAX_TOKENS, index, "every token streamed once");
      assertEquals(oracle, TestSupport.PROMPT + TestSupport.text(events), "same greedy output as an unmoved model");
    }

    TestProbe<Void> waiter = kit.createTestProbe();
    int[] handedOver = {0};
    waiter.awaitAssert(Duration.ofSeconds(30), Duration.ofMillis(100), () -> {
      List<GpuStatus> gpus = node.gpus().toCompletableFuture().get(10, TimeUnit.SECONDS);
      handedOver[0] = 0;
      for (GpuStatus g : gpus) {
        assertEquals("", g.invariantViolation());
        if (g.gpu().equals(source)) {
          assertTrue(g.models().isEmpty(), "the source unloaded the model: " + g.models());
          assertEquals(0, g.heldPages(), "every page of the source is back");
          assertEquals(0, g.weightBytes());
          for (GpuEvent ev : g.events()) {
            Matcher m = HANDED_OVER.matcher(ev.detail());
            if (ev.kind().equals(GpuEvent.HANDED_OFF) && m.find()) handedOver[0] += Integer.parseInt(m.group(1));
          }
        } else {
          assertEquals(1, g.models().size());
          assertEquals(0, g.models().get(0).pagesInUse(), "no page of the target is held for a request");
        }
      }
      return null;
    });
    assertTrue(handedOver[0] > 0, "requests were still running at the drain timeout and were recomputed on the target");
    System.out.println("Recompute migration: " + probes.size() + " requests, " + handedOver[0] + " handed over at the drain timeout");
  }
}
