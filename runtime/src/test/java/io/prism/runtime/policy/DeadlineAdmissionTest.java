package io.prism.runtime.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The GPU's local admission (Algorithm 2 over {@link MooreHodgsonAdmission}, whose optimality
 * against brute force is tested apart): one deadline queue across models, prefill work committed
 * until first tokens, deferred requests kept and admitted later, hopeless ones rejected; and the
 * cost beyond the prefill (decode work of the running batch, the wait for a slot, an activation).
 */
class DeadlineAdmissionTest {
  private static final long MS = 1_000_000L;
  /** 1000 tokens per second: a prompt of n tokens is n ms of prefill. */
  private static final double SPEED = 1000;

  private static DeadlineAdmission admission(boolean on) {
    return new DeadlineAdmission(on);
  }

  private static void enqueue(DeadlineAdmission a, String model, String id, long arrival, int prompt, Duration slo) {
    a.outlook(ModelOutlook.idle(model, SPEED));
    a.enqueue(model, id, arrival, prompt, slo);
  }

  @Test
  void admitsAcrossModelsInDeadlineOrder() {
    DeadlineAdmission a = admission(true);
    enqueue(a, "loose", "l1", 0, 10, Duration.ofMillis(500));
    enqueue(a, "strict", "s1", 5 * MS, 10, Duration.ofMillis(100));
    DeadlineAdmission.Round r = a.round(5 * MS);
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
  void workAdmittedDuringASlowdownIsRescaledOnceTheSlowdownHasDecayed() {
    DeadlineAdmission a = admission(true);
    enqueue(a, "m", "s0", 0, 100, Duration.ofSeconds(10));
    assertEquals(List.of("s0"), a.round(0).admitted().get("m"));
    a.firstTokens(List.of("s0"), 2000 * MS); // predicted at 100 ms, came at 2 s (an activation the estimate missed)
    double inflated = a.slowdown();
    assertTrue(inflated > 5, "a first token 20x late raises the slowdown: " + inflated);
    for (int i = 1; i <= 4; i++) enqueue(a, "m", "s" + i, 2000 * MS, 100, Duration.ofSeconds(10));
    assertEquals(4, a.round(2000 * MS).admitted().get("m").size());
    assertTrue(a.committedNanos() > 4 * 100 * MS * 4, "admitted at the inflated slowdown: " + a.committedNanos() / MS + " ms");
    enqueue(a, "m", "s5", 22_000 * MS, 100, Duration.ofSeconds(10)); // 20 s without news: the slowdown has decayed
    assertEquals(List.of("s5"), a.round(22_000 * MS).admitted().get("m"));
    assertTrue(a.slowdown() < 1.01, "decayed: " + a.slowdown());
    assertTrue(a.committedNanos() <= 5 * 100 * MS + MS, "five prefills of 100 ms at today's speed, not the burst's: " + a.committedNanos() / MS + " ms");
    assertTrue(a.committedNanos() >= 5 * 100 * MS - MS);
  }

  @Test
  void defersARequestThatFitsAloneButNotWithTheOthersAndAdmitsItOnceWorkIsDone() {
    DeadlineAdmission a = admission(true);
    enqueue(a, "m", "short", 0, 50, Duration.ofMillis(100)); // 50 ms, due at 100
    enqueue(a, "m", "long", 0, 60, Duration.ofMillis(100)); // 60 ms, due at 100: both take 110
    DeadlineAdmission.Round first = a.round(0);
    assertEquals(List.of("short"), first.admitted().get("m"), "the longest job is dropped");
    assertTrue(first.rejected().isEmpty(), "long could still make it alone: deferred, not rejected");
    assertEquals(1, a.queued());
    assertEquals(1, a.counts("m").deferred);
    a.firstTokens(List.of("short")); // its prefill is done at 30 ms, earlier than estimated
    DeadlineAdmission.Round second = a.round(30 * MS);
    assertEquals(List.of("long"), second.admitted().get("m"), "30 + 60 ms meets the deadline now");
    assertEquals(0, a.queued());
  }

  @Test
  void rejectsARequestThatCannotMeetItsDeadlineEvenIfServedNext() {
    DeadlineAdmission a = admission(true);
    enqueue(a, "m", "busy", 0, 90, Duration.ofSeconds(1));
    assertEquals(List.of("busy"), a.round(0).admitted().get("m"));
    enqueue(a, "m", "late", 0, 20, Duration.ofMillis(100)); // 90 ms committed + 20 ms > 100 ms
    DeadlineAdmission.Round r = a.round(0);
    assertTrue(r.admitted().isEmpty());
    DeadlineAdmission.Rejected no = r.rejected().get("late");
    assertEquals("m", no.modelId());
    assertTrue(no.reason().contains("cannot meet TTFT deadline"), no.reason());
    assertEquals(0, a.queued());
    assertEquals(1, a.counts("m").rejected);
  }

  @Test
  void withDeadlineAdmissionOffEveryRequestIsAdmitted() {
    DeadlineAdmission a = admission(false);
    enqueue(a, "m", "x", 0, 1000, Duration.ofMillis(1));
    enqueue(a, "m", "y", 0, 1000, Duration.ofMillis(1));
    assertEquals(Map.of("m", List.of("x", "y")), a.round(0).admitted());
  }

  @Test
  void forgettingAModelDropsItsQueuedAndCommittedRequests() {
    DeadlineAdmission a = admission(true);
    enqueue(a, "m", "x", 0, 10, Duration.ofSeconds(1));
    a.round(0);
    enqueue(a, "m", "y", 0, 10, Duration.ofSeconds(1));
    enqueue(a, "other", "z", 0, 10, Duration.ofSeconds(1));
    a.forgetModel("m");
    assertEquals(1, a.queued());
    assertEquals(0, a.committedNanos());
  }

  @Test
  void aFullRunningBatchDelaysTheStartByTheStepsUntilASlotFrees() {
    DeadlineAdmission a = admission(true);
    // 2 slots, both taken by sequences with 30 and 80 tokens to go at 1 ms per step
    a.outlook(new ModelOutlook("m", SPEED, MS, 512, 2, new int[] {80, 30}, true, 0));
    a.enqueue("m", "x", 0, 10, Duration.ofMillis(35)); // 30 ms for a slot + 10 ms prefill + 1 ms decode work > 35
    DeadlineAdmission.Round r = a.round(0);
    assertTrue(r.admitted().isEmpty());
    assertTrue(r.rejected().containsKey("x"), "cannot make 35 ms: " + r);
    assertEquals(41, r.rejected().get("x").estimatedTtftNanos() / MS, r.rejected().get("x").reason());
    a.enqueue("m", "y", 0, 10, Duration.ofMillis(50)); // 41 ms fits 50
    assertEquals(List.of("y"), a.round(0).admitted().get("m"));
  }

  @Test
  void anEvictedModelsActivationCountsAgainstItsDeadline() {
    DeadlineAdmission a = admission(true);
    a.outlook(new ModelOutlook("m", SPEED, 0, 512, 8, new int[0], false, 200 * MS));
    a.enqueue("m", "x", 0, 10, Duration.ofMillis(100));
    assertTrue(a.round(0).rejected().containsKey("x"), "200 ms of activation cannot fit a 100 ms SLO");
    a.outlook(new ModelOutlook("m", SPEED, 0, 512, 8, new int[0], true, 200 * MS));
    a.enqueue("m", "y", 0, 10, Duration.ofMillis(100));
    assertEquals(List.of("y"), a.round(0).admitted().get("m"), "resident again: 10 ms fits");
  }

  @Test
  void theRunningBatchsDecodeWorkIsPartOfEachPrefillChunk() {
    DeadlineAdmission a = admission(true);
    a.outlook(new ModelOutlook("m", SPEED, 5 * MS, 16, 64, new int[] {100}, true, 0));
    a.enqueue("m", "x", 0, 64, Duration.ofSeconds(10)); // 64 ms prefill + 4 chunks x 5 ms
    assertEquals(84 * MS, a.costed("x").estimatedPrefillNanos());
  }

  @Test
  void theSimulatorsStatelessRoundAndTheGpuActorsAdmitTheSameSetOnSeededQueues() {
    java.util.Random rnd = new java.util.Random(42);
    for (int trial = 0; trial < 300; trial++) {
      DeadlineAdmission gpu = new DeadlineAdmission(true, 0); // the simulator plans without headroom
      List<DeadlineAdmission.Waiting> waiting = new java.util.ArrayList<>();
      Map<String, ModelOutlook> outlooks = new java.util.HashMap<>();
      for (String m : List.of("a", "b", "c")) {
        int[] remaining = rnd.ints(rnd.nextInt(4), 1, 200).toArray();
        ModelOutlook o = new ModelOutlook(m, 500 + rnd.nextInt(5000), rnd.nextInt(3) * MS, 64, 1 + rnd.nextInt(4), remaining, rnd.nextInt(5) > 0,
            rnd.nextInt(100) * MS);
        outlooks.put(m, o);
        gpu.outlook(o);
      }
      int n = 1 + rnd.nextInt(12);
      for (int i = 0; i < n; i++) {
        String m = List.of("a", "b", "c").get(rnd.nextInt(3));
        long arrival = rnd.nextInt(50) * MS;
        int prompt = 1 + rnd.nextInt(400);
        long slo = (20 + rnd.nextInt(500)) * MS;
        waiting.add(new DeadlineAdmission.Waiting("r" + i, m, arrival, prompt, slo));
        gpu.enqueue(m, "r" + i, arrival, prompt, Duration.ofNanos(slo));
      }
      long now = 50 * MS;
      MooreHodgsonAdmission.Result sim = DeadlineAdmission.decide(waiting, outlooks, Map.of(), 0, now);
      DeadlineAdmission.Round round = gpu.round(now);
      List<String> simIn = sim.admitted().stream().map(QueuedRequest::requestId).sorted().toList();
      List<String> gpuIn = round.admitted().values().stream().flatMap(List::stream).sorted().toList();
      assertEquals(simIn, gpuIn, "trial " + trial);
      assertEquals(sim.rejected().stream().map(r -> r.request().requestId()).sorted().toList(),
          round.rejected().keySet().stream().sorted().toList(), "trial " + trial);
    }
  }
}
