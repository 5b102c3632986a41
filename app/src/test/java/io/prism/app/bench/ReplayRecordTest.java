package io.prism.app.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.policy.Slo;
import java.io.StringWriter;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** How a replayed request's end is recorded in the replay's CSV. */
class ReplayRecordTest {
  private static final Slo SLO = new Slo(Duration.ofSeconds(1), Duration.ofMillis(100));

  @Test
  void aRejectionKeepsTheCodeAndTheMessageOfItsErrorEnvelope() throws Exception {
    String body = "{\"error\":{\"message\":\"model 'm' cannot meet its TTFT SLO of 1000 ms: estimated TTFT 2350 ms, \\\"queue\\\" 4\","
        + "\"type\":\"service_unavailable\",\"param\":null,\"code\":\"slo_unattainable\"}}";
    SseClient.Result r = new SseClient.Result(503, 1_000, -1, -1, 2_000, -1, 0, false, body);
    ReplayRecord rec = ReplayRecord.of("prism", 1.0, "r1", "m", 0, 10, 5, r, false, 0, SLO);
    assertEquals(ReplayRecord.Outcome.REJECTED, rec.outcome());
    assertEquals("503 slo_unattainable: model 'm' cannot meet its TTFT SLO of 1000 ms: estimated TTFT 2350 ms, \"queue\" 4", rec.error());
    StringWriter csv = new StringWriter();
    rec.writeCsv(csv);
    assertTrue(csv.toString().strip().endsWith(",\"503 slo_unattainable: model 'm' cannot meet its TTFT SLO of 1000 ms: estimated TTFT 2350 ms, \"\"queue\"\" 4\""),
        csv.toString());
  }

  @Test
  void aRejectionWithoutAnEnvelopeKeepsItsStatus() {
    SseClient.Result r = new SseClient.Result(429, 1_000, -1, -1, 2_000, -1, 0, false, "Too Many Requests");
    assertEquals("429 other", ReplayRecord.of("prism", 1.0, "r2", "m", 0, 10, 5, r, false, 0, SLO).error());
  }
}
