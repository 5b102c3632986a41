package io.prism.actors;

import io.prism.runtime.engine.Rejection;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The GPU's local admission (Algorithm 2 over the runtime's Moore-Hodgson policy, whose optimality
 * against brute force is tested in the runtime): one deadline queue across models, prefill work
 * committed until first tokens, deferred requests kept and admitted later, hopeless ones rejected;
 * and end to end, a request that cannot meet its TTFT SLO gets {@link Rejection.Kind#SLO_UNATTAINABLE}.
 */
class LocalAdmissionTest {
  private static final long MS = 1_000_000L;
  /** 1000 tokens per second: a prompt of n tokens is n ms of prefill. */
  private static final double SPEED = 1000;

  @Test
  void admitsAcrossModelsInDeadlineOrder() {
    LocalAdmission a = new LocalAdmission(true);
    a.enqueue("loose", "l1", 0, 10, Duration.ofMillis(500), SPEED);
    a.enqueue("strict", "s1", 5 * MS, 10, Duration.ofMillis(100), SPEED);
    LocalAdmission.Round r = a.round(5 * MS);
    assertEquals(Map.of("strict", List.of("s1"), "loose", List.of("l1")), r.admitted());
    assertEquals(List.of("strict", "loose"), List.copyOf(r.admitted().keySet()), "the earlier deadline first");
    assertEquals(0, a.queued());
    assertEquals(20 * MS, a.committedNanos(), "both prefills are pending work");
    a.firstTokens(List.of("s1"));
    assertEquals(10 * MS, a.committedNanos());
    a.ended(List.of("l1"));
    assertEquals(0, a.committedNanos());
    assertEquals(1, a.counts("strict").admitted);
  }

  @Test
  void defersARequestThatFitsAloneButNotWithTheOthersAndAdmitsItOnceWorkIsDone() {
    LocalAdmission a = new LocalAdmission(true);
    a.enqueue("m", "short", 0, 50, Duration.ofMillis(100), SPEED); // 50 ms, due at 100
    a.enqueue("m", "long", 0, 60, Duration.ofMillis(100), SPEED); // 60 ms, due at 100: both take 110
    LocalAdmission.Round first = a.round(0);
    assertEquals(List.of("short"), first.admitted().get("m"), "the longest job is dropped");
    assertTrue(first.rejected().isEmpty(), "long could still make it alone: deferred, not rejected");
    assertEquals(1, a.queued());
    assertEquals(1, a.counts("m").deferred);
    a.firstTokens(List.of("short")); // its prefill is done at 30 ms, earlier than estimated
    LocalAdmission.Round second = a.round(30 * MS);
    assertEquals(List.of("long"), second.admitted().get("m"), "30 + 60 ms meets the deadline now");
    assertEquals(0, a.queued());
  }

  @Test
  void rejectsARequestThatCannotMeetItsDeadlineEvenIfServedNext() {
    LocalAdmission a = new LocalAdmission(true);
    a.enqueue("m", "busy", 0, 90, Duration.ofSeconds(1), SPEED);
    assertEquals(List.of("busy"), a.round(0).admitted().get("m"));
    a.enqueue("m", "late", 0, 20, Duration.ofMillis(100), SPEED); // 90 ms committed + 20 ms > 100 ms
    LocalAdmission.Round r = a.round(0);
    assertTrue(r.admitted().isEmpty());
    LocalAdmission.Rejection no = r.rejected().get("late");
    assertEquals("m", no.modelId());
    assertTrue(no.reason().contains("cannot meet TTFT deadline"), no.reason());
    assertEquals(0, a.queued());
    assertEquals(1, a.counts("m").rejected);
  }

  @Test
  void withDeadlineAdmissionOffEveryRequestIsAdmitted() {
    LocalAdmission a = new LocalAdmission(false);
    a.enqueue("m", "x", 0, 1000, Duration.ofMillis(1), SPEED);
    a.enqueue("m", "y", 0, 1000, Duration.ofMillis(1), SPEED);
    assertEquals(Map.of("m", List.of("x", "y")), a.round(0).admitted());
  }

  @Test
  void forgettingAModelDropsItsQueuedAndCommittedRequests() {
    LocalAdmission a = new LocalAdmission(true);
    a.enqueue("m", "x", 0, 10, Duration.ofSeconds(1), SPEED);
    a.round(0);
    a.enqueue("m", "y", 0, 10, Duration.ofSeconds(1), SPEED);
    a.enqueue("other", "z", 0, 10, Duration.ofSeconds(1), SPEED);
    a.forgetModel("m");
    assertEquals(1, a.queued());
    assertEquals(0, a.committedNanos());
  }

  @Test
  void aRequestThatCannotMeetItsTtftSloIsRejectedWith503AndTheOthersAreServed() {
    try (GpuFixture fx = new GpuFixture("admission-test", 64L << 20, "")) {
      ModelSpec s = TestSupport.spec("tight", GpuFixture.STORIES);
      fx.load(new ModelSpec("tight", s.source(), null, Duration.ofNanos(1_000), Duration.ofSeconds(1), s.estimatedBytes()));
      fx.load("easy", 10_000, 1_000);
      String hopeless = fx.sendGreedy("tight", "t-1", 20);
      String fine = fx.sendGreedy("easy", "e-1", 20);
      fx.awaitEnded(List.of(hopeless, fine));
      GenerationEvent.Rejected r = assertInstanceOf(GenerationEvent.Rejected.class, fx.events(hopeless).get(0));
      assertEquals(Rejection.Kind.SLO_UNATTAINABLE, r.kind());
      assertTrue(r.message().contains("cannot meet TTFT deadline"), r.message());
      assertTrue(fx.completed(fine).completionTokens() > 0);
      GpuStatus st = fx.assertQuiescentAndConserved();
      assertEquals(1, st.model("tight").books().rejected());
      assertEquals(1, st.model("easy").books().admitted());
      assertTrue(st.events().stream().anyMatch(e -> e.kind().equals(GpuEvent.REJECTED) && e.modelId().equals("tight")));
    }
  }
}
