package io.prism.app.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.policy.sim.Workload;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link ReplayWorkload} on small hand-written traces, {@link ReplaySummary} arithmetic and the
 * report's files ({@link ReplayReport}, XChart on the test class path): no server.
 */
class ReplayWorkloadTest {
  @TempDir Path tmp;

  private ReplayWorkload.Options options(ReplayWorkload.Source source, int models, double scale, Duration duration) {
    return new ReplayWorkload.Options(source, tmp, List.of("random:stories260K"), models, 1, scale, duration, 1.0, Duration.ofSeconds(15),
        Duration.ofSeconds(35), 10, 0.25, Duration.ofSeconds(1), Duration.ZERO, 0.5, 100, 20, 4, 3);
  }

  /** 400 requests, one every 50 ms, prompt 300 and output 40 tokens, as a Mooncake JSON-lines trace. */
  private void writeMooncake() throws Exception {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < 400; i++) sb.append("{\"timestamp\": ").append(i * 50).append(", \"input_length\": 300, \"output_length\": 40, \"hash_ids\": [0]}\n");
    Files.writeString(tmp.resolve("mooncake_fast25_conversation_trace.jsonl"), sb.toString(), StandardCharsets.UTF_8);
  }

  @Test
  void timedTraceKeepsArrivalTimesCompressedByTheRateScaleAndScalesLengths() throws Exception {
    writeMooncake();
    Workload w = ReplayWorkload.build(options(ReplayWorkload.Source.MOONCAKE, 8, 2, Duration.ofSeconds(5))).workload();
    // 5 s at scale 2 covers the trace's first 10 s: 200 requests, 25 ms apart
    assertEquals(200, w.arrivals().size());
    for (int i = 0; i < w.arrivals().size(); i++) {
      Workload.Arrival a = w.arrivals().get(i);
      assertEquals(i * 25_000_000L, a.arrivalNanos());
      assertEquals(100, a.promptTokens(), "300 x 0.5 capped at --max-prompt-tokens 100");
      assertEquals(20, a.outputTokens(), "40 x 0.5");
    }
  }

  @Test
  void timedTraceSpreadsArrivalsOverBurstyGroupsOfModels() throws Exception {
    writeMooncake();
    Workload w = ReplayWorkload.build(options(ReplayWorkload.Source.MOONCAKE, 8, 1, Duration.ofSeconds(20))).workload();
    Map<Long, Set<String>> byPeriod = new HashMap<>();
    Map<String, Integer> perModel = new HashMap<>();
    for (Workload.Arrival a : w.arrivals()) {
      byPeriod.computeIfAbsent(a.arrivalNanos() / 1_000_000_000L, k -> new HashSet<>()).add(a.modelId());
      perModel.merge(a.modelId(), 1, Integer::sum);
    }
    for (Set<String> active : byPeriod.values()) assertTrue(active.size() <= 2, "a quarter of 8 models active per 1 s period: " + active);
    Set<Set<String>> distinct = new HashSet<>(byPeriod.values());
    assertTrue(distinct.size() > 3, "the active group changes: " + distinct);
    assertTrue(perModel.getOrDefault("m00-stories260K", 0) > perModel.getOrDefault("m07-stories260K", 0), "long tail: " + perModel);
  }

  @Test
  void emptyWindowAndBadOptionsAreRefused() throws Exception {
    writeMooncake();
    ReplayWorkload.Options late = new ReplayWorkload.Options(ReplayWorkload.Source.MOONCAKE, tmp, List.of("random:stories260K"), 2, 1, 1,
        Duration.ofSeconds(5), 1.0, Duration.ofSeconds(15), Duration.ofSeconds(35), 10, 0.5, Duration.ofSeconds(1), Duration.ofHours(5), 1, 100, 20, 4, 3);
    assertThrows(IllegalArgumentException.class, () -> ReplayWorkload.build(late));
    assertThrows(IllegalArgumentException.class, () -> options(ReplayWorkload.Source.MOONCAKE, 0, 1, Duration.ofSeconds(5)));
    assertThrows(IllegalArgumentException.class, () -> ReplayWorkload.Source.parse("sharegpt"));
    assertEquals(ReplayWorkload.Source.AZURE_CODE, ReplayWorkload.Source.parse("azure-code"));
  }

  private static ReplayRecord record(String id, ReplayRecord.Outcome o, boolean ttft, boolean tpot) {
    return new ReplayRecord("p", 1, id, "m", 0, 0, 10, 5, o, o == ReplayRecord.Outcome.OK ? 200 : 503, ttft ? 5_000_000 : -1, 1e6, 5, 9_000_000,
        ttft, tpot, "");
  }

  @Test
  void summaryCountsEveryRequestSentInItsDenominators() {
    List<ReplayRecord> rs = List.of(record("a", ReplayRecord.Outcome.OK, true, true), record("b", ReplayRecord.Outcome.OK, true, false),
        record("c", ReplayRecord.Outcome.REJECTED, false, false), record("d", ReplayRecord.Outcome.TIMED_OUT, false, false));
    ReplaySummary s = ReplaySummary.of("p", 1, rs, 2.0, 3.5);
    assertEquals(4, s.requests());
    assertEquals(2, s.ok());
    assertEquals(1, s.rejected());
    assertEquals(1, s.timedOut());
    assertEquals(0.5, s.ttftAttainment());
    assertEquals(0.25, s.tpotAttainment());
    assertEquals(0.25, s.attainment());
    assertEquals(0.5, s.goodput(), "one request met both over a 2 s window");
    assertEquals(3.5, s.gpuSeconds());
  }

  @Test
  void reportEmbedsEveryPlotInOneHtmlFile() throws Exception {
    List<ReplayReport.Run> runs = new ArrayList<>();
    for (String policy : List.of("static", "prism")) {
      List<ReplayRecord> rs = List.of(record("a", ReplayRecord.Outcome.OK, true, true), record("b", ReplayRecord.Outcome.OK, true, false));
      List<MemoryPoller.Sample> mem = List.of(new MemoryPoller.Sample(0, "gpu-0@h:1", "m", 100, 50, -1),
          new MemoryPoller.Sample(0.5, "gpu-0@h:1", "m", 100, 80, -1));
      runs.add(new ReplayReport.Run(ReplaySummary.of(policy, 1, rs, 1, 1), rs, mem));
    }
    assertTrue(ReplayReport.plottingAvailable());
    Path html = ReplayReport.writePlotsAndHtml(tmp.resolve("report"), runs, "t", "table");
    String text = Files.readString(html);
    int images = text.split("data:image/png;base64,", -1).length - 1;
    assertEquals(4, images, "attainment, TTFT CDF, memory of each policy's GPU");
    for (String f : List.of("attainment-vs-rate.png", "ttft-cdf.png", "memory-static-gpu-0.png", "memory-prism-gpu-0.png")) {
      assertTrue(ReplayPlots.nonEmpty(Files.readAllBytes(tmp.resolve("report").resolve(f))), f);
    }
  }
}
