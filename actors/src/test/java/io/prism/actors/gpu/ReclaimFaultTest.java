package io.prism.actors.gpu;

import io.prism.actors.TestSupport;
import io.prism.actors.frontend.GenerationEvent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.engine.FinishReason;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Fault injection in the middle of a reclaim (issue 5). The model "loose" fills the GPU with long
 * requests; the model "strict" (stricter SLO) then bursts, and its reclaim plans preempt the loose
 * model's decodes. The page pool actor is stopped (or fails) after the first step of such a plan,
 * or the loose model, whose pages are being taken, crashes while the plan is in flight. No page
 * leaks (conservation is checked after every step and action), every request ends exactly once,
 * with an error or completed, and the GPU serves again.
 */
class ReclaimFaultTest {
  private static final int KV_PAGES = 300;

  private static GpuFixture fixture(String name) {
    GpuFixture fx = new GpuFixture(name, 2 * BallooningTest.weightBytes() + KV_PAGES * GpuFixture.PAGE_BYTES + GpuFixture.PAGE_BYTES - 1,
        "prism.gpu.reclaim-timeout = 1s\nprism.gpu.deadline-admission = off"); // this test is about reclaim under faults, not admission
    fx.load("loose", 10_000, 1_000);
    fx.load("strict", 300, 100);
    return fx;
  }

  private static List<String> burst(GpuFixture fx, String model, int n, int maxTokens) {
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < n; i++) ids.add(fx.send(model, model + "-burst-" + i, "Once upon a time", maxTokens));
    return ids;
  }

  /** Both models still serve: a request each completes with the reference text. */
  private static void servesAgain(GpuFixture fx) {
    String a = fx.sendGreedy("loose", "loose-after", TestSupport.ORACLE_MAX_TOKENS);
    String b = fx.sendGreedy("strict", "strict-after", TestSupport.ORACLE_MAX_TOKENS);
    fx.awaitEnded(List.of(a, b));
    assertEquals(TestSupport.oracle(), TestSupport.PROMPT + TestSupport.text(fx.events(a)));
    assertEquals(TestSupport.oracle(), TestSupport.PROMPT + TestSupport.text(fx.events(b)));
  }

  /** The loose model fills the GPU, then the strict one bursts: its reclaims preempt the loose model's decodes. */
  private static List<String> contend(GpuFixture fx) {
    List<String> ids = new ArrayList<>(burst(fx, "loose", 6, 400));
    fx.awaitStatus("the loose model fills the GPU", s -> s.model("loose").pagesInUse() >= KV_PAGES - 80);
    ids.addAll(burst(fx, "strict", 12, 100));
    return ids;
  }

  private static boolean has(GpuStatus s, String kind, String model) {
    return s.events().stream().anyMatch(e -> e.kind().equals(kind) && (model == null || e.modelId().equals(model)));
  }

  @Test
  void pagePoolActorStoppedInTheMiddleOfAReclaimLeaksNoPageAndTheGpuServesAgain() {
    try (GpuFixture fx = fixture("pool-fault-test")) {
      fx.gpu.tell(new GpuActor.InjectReclaimFault(GpuActor.POOL, "stop"));
      List<String> ids = contend(fx);
      fx.awaitEnded(ids);
      for (String id : ids) assertEquals(FinishReason.LENGTH, fx.completed(id).reason(), id + " completes: only the pool actor died");
      GpuStatus s = fx.assertQuiescentAndConserved();
      assertTrue(has(s, GpuEvent.POOL_RESTARTED, null), "the pool actor was started again: " + s.events());
      servesAgain(fx);
      fx.assertQuiescentAndConserved();
    }
  }

  @Test
  void pagePoolActorFailingInTheMiddleOfAReclaimIsResumedAndTheNegotiationTimesOut() {
    try (GpuFixture fx = fixture("pool-throw-test")) {
      fx.gpu.tell(new GpuActor.InjectReclaimFault(GpuActor.POOL, "throw"));
      List<String> ids = contend(fx);
      fx.awaitEnded(ids);
      for (String id : ids) assertEquals(FinishReason.LENGTH, fx.completed(id).reason(), id);
      GpuStatus s = fx.assertQuiescentAndConserved();
      assertTrue(has(s, GpuEvent.RECLAIM_ABANDONED, "strict"), "abandoned after the timeout: " + s.events());
      servesAgain(fx);
    }
  }

  @Test
  void modelActorCrashedInTheMiddleOfAReclaimFailsItsRequestsReturnsItsPagesAndIsRestarted() {
    try (GpuFixture fx = fixture("model-fault-test")) {
      fx.gpu.tell(new GpuActor.InjectReclaimFault("loose", "crash"));
      List<String> ids = contend(fx);
      fx.awaitEnded(ids);
      int failed = 0;
      for (String id : ids) {
        GenerationEvent.Completed c = fx.completed(id);
        if (id.startsWith("strict")) assertEquals(FinishReason.LENGTH, c.reason(), id);
        else assertTrue(c.reason() == FinishReason.FAILED || c.reason() == FinishReason.LENGTH, id + ": " + c);
        if (c.reason() == FinishReason.FAILED) {
          failed++;
          assertTrue(c.message().contains("in the middle of reclaim"), c.message());
        }
      }
      assertTrue(failed > 0, "the loose model crashed with requests in flight");
      GpuStatus s = fx.assertQuiescentAndConserved();
      assertTrue(has(s, GpuEvent.MODEL_RESTARTED, "loose"), s.events().toString());
      servesAgain(fx);
      fx.assertQuiescentAndConserved();
    }
  }
}
