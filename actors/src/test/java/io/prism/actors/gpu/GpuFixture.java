package io.prism.actors.gpu;

import io.prism.actors.GpuId;
import io.prism.actors.ModelSpec;
import io.prism.actors.PrismSettings;
import io.prism.actors.TestSupport;
import io.prism.actors.frontend.GenerateRequest;
import io.prism.actors.frontend.GenerationEvent;
import io.prism.actors.model.ModelStore;
import io.prism.actors.placement.GlobalPlacementActor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.sampling.SamplingParams;
import io.prism.runtime.forward.HostDevice;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * One host "GPU" (a {@link GpuActor} with its pool and model actors) for the ballooning tests:
 * every message serialized, page conservation checked after every step and reclaim action, every
 * step traced, and a device clock the test moves forward ({@link #advance}) to make models idle
 * without waiting. Requests go through {@link #send}; a collector keeps every event of every request
 * so the test can check that each ends exactly once.
 */
final class GpuFixture implements AutoCloseable {
  static final Duration TIMEOUT = Duration.ofSeconds(60);
  static final long PAGE_BYTES = 4096;
  static final String STORIES = "stories260K.bin";

  final ActorTestKit testKit;
  final HostDevice device;
  final TestProbe<GlobalPlacementActor.Command> placement;
  final ActorRef<GpuActor.Command> gpu;
  final PrismSettings settings;
  private final AtomicLong skewNanos = new AtomicLong();
  private final Map<String, List<GenerationEvent>> events = new ConcurrentHashMap<>();
  private final Map<String, Long> sentNanos = new ConcurrentHashMap<>();
  private final Map<String, Long> firstTokenNanos = new ConcurrentHashMap<>();
  private final ActorRef<GenerationEvent> collector;

  /**
   * @param name actor system name
   * @param budgetBytes the device's memory budget
   * @param extraConfig more settings (HOCON)
   */
  GpuFixture(String name, long budgetBytes, String extraConfig) {
    testKit = ActorTestKit.create(name, TestSupport.config(extraConfig + "\n"
        + "prism.gpu.memory-budget = " + budgetBytes + "\n"
        + "prism.gpu.check-invariants = on\n"
        + "prism.gpu.trace-steps = 200000\n"
        + "prism.gpu.reclaim-retry = 2ms\n"
        + "prism.gpu.event-log-size = 5000\n"));
    settings = PrismSettings.from(testKit.system().settings().config());
    device = new HostDevice(0, PAGE_BYTES, 1);
    ModelStore store = new ModelStore(ModelStore.fileLoader(), Executors.newCachedThreadPool());
    placement = testKit.createTestProbe(GlobalPlacementActor.Command.class);
    gpu = testKit.spawn(GpuActor.create(new GpuId("127.0.0.1", 25520, 0), device, store, settings, placement.ref(),
        () -> System.nanoTime() + skewNanos.get()), "gpu-0");
    collector = testKit.spawn(Behaviors.receive((ctx, e) -> {
      events.computeIfAbsent(e.requestId(), k -> new CopyOnWriteArrayList<>()).add(e);
      if (e instanceof GenerationEvent.Chunk c && c.index() == 0) firstTokenNanos.putIfAbsent(e.requestId(), System.nanoTime());
      return Behaviors.same();
    }), "collector");
  }

  /** Moves the device clock forward by {@code d} (models look idle that long). */
  void advance(Duration d) {
    skewNanos.addAndGet(d.toNanos());
  }

  /** Loads a stories260K instance as {@code id} with SLOs in milliseconds. */
  void load(String id, long ttftMillis, long tpotMillis) {
    ModelSpec s = TestSupport.spec(id, STORIES);
    load(new ModelSpec(id, s.source(), null, Duration.ofMillis(ttftMillis), Duration.ofMillis(tpotMillis), s.estimatedBytes()));
  }

  void load(ModelSpec spec) {
    TestProbe<GpuActor.LoadReply> loaded = testKit.createTestProbe();
    gpu.tell(new GpuActor.LoadModel(spec, loaded.ref()));
    assertInstanceOf(GpuActor.ModelLoaded.class, loaded.receiveMessage(TIMEOUT));
  }

  /** Sends a request of {@code maxTokens} tokens (EOS ignored, seeded sampling) for {@code model}; events go to the collector. */
  String send(String model, String requestId, String prompt, int maxTokens) {
    SamplingParams p = new SamplingParams(0.8f, 0.95f, 0, (long) requestId.hashCode(), maxTokens, List.of(), true);
    sentNanos.put(requestId, System.nanoTime());
    gpu.tell(new GpuActor.Generate(new GenerateRequest(requestId, model, prompt, null, true, p), collector, null, 0));
    return requestId;
  }

  /** Sends a greedy request (the oracle's). */
  String sendGreedy(String model, String requestId, int maxTokens) {
    gpu.tell(new GpuActor.Generate(TestSupport.greedy(requestId, model, maxTokens), collector, null, 0));
    return requestId;
  }

  /** Time from sending {@code requestId} ({@link #send}) to its first token, as its client saw it, in nanoseconds; -1 if none. */
  long ttftNanos(String requestId) {
    Long sent = sentNanos.get(requestId);
    Long first = firstTokenNanos.get(requestId);
    return sent == null || first == null ? -1 : first - sent;
  }

  /** The events of a request so far. */
  List<GenerationEvent> events(String requestId) {
    return events.getOrDefault(requestId, List.of());
  }

  /** Waits until each request ended (Completed or Rejected); then checks each ended exactly once, last. */
  void awaitEnded(List<String> requestIds) {
    TestProbe<Object> p = testKit.createTestProbe();
    try {
      p.awaitAssert(TIMEOUT, () -> {
        for (String id : requestIds) assertTrue(ended(id), id + " has not ended: " + events(id));
        return null;
      });
    } catch (AssertionError e) {
      throw new AssertionError(e.getMessage() + "; GPU: " + status(), e);
    }
    for (String id : requestIds) assertEndedOnce(id);
  }

  private boolean ended(String id) {
    return events(id).stream().anyMatch(e -> e instanceof GenerationEvent.Completed || e instanceof GenerationEvent.Rejected);
  }

  /** Started, chunks, one Completed last; or one Rejected alone. */
  void assertEndedOnce(String id) {
    List<GenerationEvent> ev = events(id);
    long ends = ev.stream().filter(e -> e instanceof GenerationEvent.Completed || e instanceof GenerationEvent.Rejected).count();
    assertEquals(1, ends, id + " ended " + ends + " times: " + ev);
    GenerationEvent last = ev.get(ev.size() - 1);
    if (last instanceof GenerationEvent.Rejected) {
      assertEquals(1, ev.size(), id + ": a rejected request gets nothing else");
    } else {
      assertInstanceOf(GenerationEvent.Completed.class, last, id);
      assertInstanceOf(GenerationEvent.Started.class, ev.get(0), id);
    }
  }

  GenerationEvent.Completed completed(String id) {
    return assertInstanceOf(GenerationEvent.Completed.class, events(id).get(events(id).size() - 1), id + ": " + events(id));
  }

  GpuStatus status() {
    TestProbe<GpuStatus> p = testKit.createTestProbe();
    gpu.tell(new GpuActor.GetStatus(p.ref()));
    return p.receiveMessage(TIMEOUT);
  }

  /** Polls the status until {@code condition} holds; returns that status. */
  GpuStatus awaitStatus(String what, Predicate<GpuStatus> condition) {
    TestProbe<Object> p = testKit.createTestProbe();
    List<GpuStatus> seen = new ArrayList<>(1);
    p.awaitAssert(TIMEOUT, Duration.ofMillis(5), () -> {
      GpuStatus s = status();
      assertTrue(condition.test(s), what + "; status: " + s);
      seen.add(s);
      return null;
    });
    return seen.get(seen.size() - 1);
  }

  StepTrace trace() {
    TestProbe<StepTrace> p = testKit.createTestProbe();
    gpu.tell(new GpuActor.GetTrace(p.ref()));
    return p.receiveMessage(TIMEOUT);
  }

  /** No page leaked: no request in flight, held pages are all kept (empty or cached), conservation held throughout. */
  GpuStatus assertQuiescentAndConserved() {
    GpuStatus s = awaitStatus("every request done", st -> st.models().stream().allMatch(m -> m.waiting() + m.running() == 0 && m.books().queued() == 0)
        && st.models().stream().allMatch(m -> m.pagesInUse() == 0));
    assertEquals("", s.invariantViolation(), "page conservation");
    assertTrue(s.invariantChecks() > 0, "conservation was checked");
    assertEquals(s.heldPages(), s.models().stream().mapToInt(GpuStatus.ModelStatus::pagesHeld).sum());
    assertTrue(s.healthy(), s.problem());
    return s;
  }

  @Override
  public void close() {
    testKit.shutdownTestKit();
    device.close();
  }
}
