package io.prism.actors.gpu;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.actors.frontend.GenerationEvent;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The waiting and running counts a GPU reports (what {@code prism_num_requests_waiting} and {@code
 * prism_num_requests_running} export) count every request in flight wherever it waits: in the
 * GPU's deadline queue, held by its model, in its engine's queue or running. During a burst each
 * status is sandwiched between the requests in flight just before and just after it was taken.
 */
class QueueGaugesTest {
  @Test
  void waitingPlusRunningEqualsTheRequestsInFlightThroughoutABurst() {
    try (GpuFixture fx = new GpuFixture("queue-gauges-test", 64L << 20, "prism.gpu.deadline-admission = off\n")) {
      fx.load("m", 600_000, 10_000);
      List<String> ids = new ArrayList<>();
      for (int i = 0; i < 40; i++) ids.add(fx.send("m", "g-" + i, "Once upon a time", 60));
      int checks = 0;
      while (ended(fx, ids) < ids.size() && checks < 200) {
        int inFlightBefore = ids.size() - ended(fx, ids);
        GpuStatus s = fx.status();
        int inFlightAfter = ids.size() - ended(fx, ids);
        GpuStatus.ModelStatus m = s.model("m");
        int counted = m.books().queued() + m.waiting() + m.running();
        assertTrue(counted <= inFlightBefore && counted >= inFlightAfter,
            "gauges count " + counted + " (queued " + m.books().queued() + ", waiting " + m.waiting() + ", running " + m.running()
                + ") but " + inFlightAfter + ".." + inFlightBefore + " requests were in flight");
        checks++;
      }
      fx.awaitEnded(ids);
      assertTrue(checks > 0, "the burst was observed");
      fx.assertQuiescentAndConserved();
    }
  }

  private static int ended(GpuFixture fx, List<String> ids) {
    int n = 0;
    for (String id : ids) {
      if (fx.events(id).stream().anyMatch(e -> e instanceof GenerationEvent.Completed || e instanceof GenerationEvent.Rejected)) n++;
    }
    return n;
  }
}
