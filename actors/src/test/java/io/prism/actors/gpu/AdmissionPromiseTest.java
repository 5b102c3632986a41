package io.prism.actors.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.actors.ModelSpec;
import io.prism.actors.TestSupport;
import io.prism.actors.frontend.GenerationEvent;
import io.prism.runtime.engine.Rejection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Local admission keeps its promise through the real actors (host backend): on seeded random
 * bursts over two models with tight TTFT SLOs, every request either is refused at once (503 {@code
 * slo_unattainable} with the estimate, or 429) or gets its first token within its TTFT SLO plus one
 * step (the largest prefill chunk at the model's measured speed); every request ends exactly once
 * and every page comes back.
 */
class AdmissionPromiseTest {
  @Test
  void everyAdmittedRequestMeetsItsTtftSloWithinOneStepOnSeededBursts() {
    try (GpuFixture fx = new GpuFixture("admission-promise-test", 64L << 20, "prism.engine.prefill-chunk = 64\n")) {
      fx.load(new ModelSpec("fast", TestSupport.model(GpuFixture.STORIES).toString(), null, Duration.ofMillis(100), Duration.ofMillis(100), 0));
      fx.load(new ModelSpec("slow", TestSupport.model(GpuFixture.STORIES).toString(), null, Duration.ofMillis(250), Duration.ofMillis(200), 0));
      // warm the JIT and the models' measured speeds with one request each
      fx.awaitEnded(List.of(fx.sendGreedy("fast", "warm-f", 40), fx.sendGreedy("slow", "warm-s", 40)));
      Random rnd = new Random(7);
      List<String> ids = new ArrayList<>();
      for (int burst = -1; burst < 4; burst++) { // burst -1 warms the batched paths: not judged
        List<String> these = new ArrayList<>();
        for (int i = 0; i < 32; i++) {
          String model = rnd.nextBoolean() ? "fast" : "slow";
          String prompt = "Once upon a time " + "there was a little dog and a big cat. ".repeat(rnd.nextInt(12));
          these.add(fx.send(model, model + "-" + burst + "-" + i, prompt, 8 + rnd.nextInt(60)));
        }
        fx.awaitEnded(these);
        if (burst >= 0) ids.addAll(these);
      }
      GpuStatus st = fx.assertQuiescentAndConserved();
      int admitted = 0;
      int refused = 0;
      List<String> late = new ArrayList<>();
      for (String id : ids) {
        GenerationEvent last = fx.events(id).get(fx.events(id).size() - 1);
        if (last instanceof GenerationEvent.Rejected r) {
          assertTrue(r.kind() == Rejection.Kind.SLO_UNATTAINABLE || r.kind() == Rejection.Kind.OVERLOADED, id + ": " + r);
          refused++;
          continue;
        }
        admitted++;
        GpuStatus.ModelStatus m = st.model(id.startsWith("fast") ? "fast" : "slow");
        long stepNanos = (long) (64 * 1e9 / m.prefillTokensPerSecond());
        long bound = m.ttftSlo().toNanos() + stepNanos;
        if (fx.ttftNanos(id) > bound) late.add(id + " " + fx.ttftNanos(id) / 1_000_000 + " ms > " + bound / 1_000_000 + " ms");
      }
      System.out.println("admission promise: " + admitted + " admitted, " + refused + " refused, late " + late);
      assertEquals(ids.size(), admitted + refused);
      assertTrue(admitted > 0, "some requests were admitted");
      assertTrue(late.isEmpty(), "admitted requests past their TTFT SLO plus one step: " + late);
    }
  }
}
