package io.prism.actors.gpu;

import io.prism.actors.ModelSpec;
import io.prism.actors.TestSupport;
import io.prism.actors.frontend.GenerationEvent;

import io.prism.runtime.engine.Rejection;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The GPU's local admission end to end (its policy, {@code DeadlineAdmission}, is tested in the
 * runtime): a request that cannot meet its TTFT SLO gets {@link Rejection.Kind#SLO_UNATTAINABLE}.
 */
class LocalAdmissionTest {
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
