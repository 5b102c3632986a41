package io.prism.actors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.engine.FinishReason;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Fault injection in the middle of a reclaim (issue 5): the page pool actor stopped after the
 * first step of a plan, or the model whose pages are being reclaimed crashed while the plan is in
 * flight. No page leaks (conservation is checked after every step and action), every request ends
 * exactly once, with an error or completed, and the GPU serves again.
 */
class ReclaimFaultTest {
  private static final int KV_PAGES = 300;

  private static GpuFixture fixture(String name) {
    GpuFixture fx = new GpuFixture(name, 2 * BallooningTest.weightBytes() + KV_PAGES * GpuFixture.PAGE_BYTES + GpuFixture.PAGE_BYTES - 1,
        "prism.gpu.reclaim-timeout = 1s");
    fx.load("a", 10_000, 1_000);
    fx.load("b", 300, 200);
    return fx;
  }

  private static List<String> burst(GpuFixture fx, String model, int n, int maxTokens) {
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < n; i++) ids.add(fx.send(model, model + "-burst-" + i, "Once upon a time", maxTokens));
    return ids;
  }

  /** Both models still serve: a request each completes. */
  private static void servesAgain(GpuFixture fx) {
    String a = fx.sendGreedy("a", "a-after", TestSupport.ORACLE_MAX_TOKENS);
    String b = fx.sendGreedy("b", "b-after", TestSupport.ORACLE_MAX_TOKENS);
    fx.awaitEnded(List.of(a, b));
    assertEquals(TestSupport.oracle(), TestSupport.PROMPT + TestSupport.text(fx.events(a)));
    assertEquals(TestSupport.oracle(), TestSupport.PROMPT + TestSupport.text(fx.events(b)));
  }

  @Test
  void pagePoolActorStoppedInTheMiddleOfAReclaimLeaksNoPageAndTheGpuServesAgain() {
    try (GpuFixture fx = fixture("pool-fault-test")) {
      fx.awaitEnded(List.of(fx.send("b", "b-warm", "Once upon a time there was a cat", 60)));
      fx.gpu.tell(new GpuActor.InjectReclaimFault(GpuActor.POOL, "stop"));
      List<String> ids = burst(fx, "a", 12, 250);
      fx.awaitEnded(ids);
      for (String id : ids) assertEquals(FinishReason.LENGTH, fx.completed(id).reason(), id + " completes: only the pool actor died");
      GpuStatus s = fx.assertQuiescentAndConserved();
      assertTrue(s.events().stream().anyMatch(e -> e.kind().equals(GpuEvent.POOL_RESTARTED)), "the pool actor was started again: " + s.events());
      servesAgain(fx);
      fx.assertQuiescentAndConserved();
    }
  }

  @Test
  void pagePoolActorFailingInTheMiddleOfAReclaimIsResumedAndTheNegotiationTimesOut() {
    try (GpuFixture fx = fixture("pool-throw-test")) {
      fx.awaitEnded(List.of(fx.send("b", "b-warm", "Once upon a time there was a cat", 60)));
      fx.gpu.tell(new GpuActor.InjectReclaimFault(GpuActor.POOL, "throw"));
      List<String> ids = burst(fx, "a", 12, 250);
      fx.awaitEnded(ids);
      for (String id : ids) assertEquals(FinishReason.LENGTH, fx.completed(id).reason(), id);
      GpuStatus s = fx.assertQuiescentAndConserved();
      assertTrue(s.events().stream().anyMatch(e -> e.kind().equals(GpuEvent.RECLAIM_ABANDONED)), "abandoned after the timeout: " + s.events());
      servesAgain(fx);
    }
  }

  @Test
  void modelActorCrashedInTheMiddleOfAReclaimFailsItsRequestsReturnsItsPagesAndIsRestarted() {
    try (GpuFixture fx = fixture("model-fault-test")) {
      fx.awaitEnded(List.of(fx.send("b", "b-warm", "Once upon a time there was a cat", 60)));
      List<String> bIds = burst(fx, "b", 2, 400);
      fx.awaitStatus("b runs", s -> s.model("b").running() == 2);
      fx.gpu.tell(new GpuActor.InjectReclaimFault("b", "crash"));
      List<String> aIds = burst(fx, "a", 12, 250);
      fx.awaitEnded(bIds);
      fx.awaitEnded(aIds);
      for (String id : aIds) assertEquals(FinishReason.LENGTH, fx.completed(id).reason(), id);
      for (String id : bIds) {
        GenerationEvent.Completed c = fx.completed(id);
        assertTrue(c.reason() == FinishReason.FAILED || c.reason() == FinishReason.LENGTH, id + ": " + c);
      }
      assertTrue(bIds.stream().anyMatch(id -> fx.completed(id).reason() == FinishReason.FAILED
          && fx.completed(id).message().contains("in the middle of reclaim")), "b crashed while running");
      GpuStatus s = fx.assertQuiescentAndConserved();
      assertTrue(s.events().stream().anyMatch(e -> e.kind().equals(GpuEvent.MODEL_RESTARTED) && e.modelId().equals("b")), s.events().toString());
      servesAgain(fx);
      fx.assertQuiescentAndConserved();
    }
  }
}
