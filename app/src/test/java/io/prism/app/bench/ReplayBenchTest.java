package io.prism.app.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.app.cli.PrismCli;
import io.prism.runtime.policy.sim.Traces;
import io.prism.runtime.policy.sim.Workload;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code prism bench replay} end to end on a tiny workload: the Azure conversation trace's first
 * seconds at three times its rate over two {@code random:stories260K} models on one host device,
 * the whole server in process on 127.0.0.1, Prism and the static partition, fixed SLOs (no
 * calibration). Each run's server is closed by the command before it returns.
 */
class ReplayBenchTest {
  @TempDir Path tmp;

  private static final String[] WORKLOAD = {"--trace", "azure-conv", "--models", "2", "--model-mix", "random:stories260K", "--duration", "3s",
      "--rate-scale", "3", "--length-scale", "0.05", "--max-prompt-tokens", "64", "--max-output-tokens", "16"};

  @Test
  void tinyReplayEndsEveryRequestOnceAndItsTableMatchesTheCsv() throws Exception {
    Path csv = tmp.resolve("requests.csv"), memory = tmp.resolve("memory.csv");
    List<String> args = new java.util.ArrayList<>(List.of("bench", "replay", "--gpus", "1", "--gpu-memory", "16MiB", "--ttft-slo", "2s",
        "--tpot-slo", "500ms", "--policies", "prism,static", "--no-progress", "--no-sim", "--drain", "30s", "--request-timeout", "30s",
        "--csv", csv.toString(), "--memory-csv", memory.toString()));
    args.addAll(List.of(WORKLOAD));
    CommandLine cl = PrismCli.commandLine();
    StringWriter out = new StringWriter(), err = new StringWriter();
    cl.setOut(new PrintWriter(out, true));
    cl.setErr(new PrintWriter(err, true));
    int code = cl.execute(args.toArray(new String[0]));
    assertEquals(0, code, err + "\n" + out);

    // the same workload, built independently: the request ids each run must have recorded once
    Workload w = ReplayWorkload.build(new ReplayWorkload.Options(ReplayWorkload.Source.AZURE_CONV, Traces.defaultDir(), List.of("random:stories260K"),
        2, 2, 3, Duration.ofSeconds(3), 1.0, Duration.ofSeconds(15), Duration.ofSeconds(35), 10, 0.375, Duration.ofSeconds(15), Duration.ZERO,
        0.05, 64, 16, 4, 1)).workload();
    Set<String> expected = new HashSet<>();
    for (Workload.Arrival a : w.arrivals()) expected.add(a.requestId());
    assertTrue(expected.size() >= 5, "the trace window should hold a few requests, got " + expected.size());

    List<String> rows = Files.readAllLines(csv);
    assertEquals(ReplayRecord.CSV_HEADER.strip(), rows.get(0));
    for (String policy : List.of("prism", "static")) {
      Set<String> seen = new HashSet<>();
      int ttft = 0, tpot = 0, both = 0, n = 0;
      for (String row : rows.subList(1, rows.size())) {
        String[] c = row.split(",", -1);
        if (!c[0].equals(policy)) continue;
        n++;
        assertTrue(seen.add(c[2]), "request " + c[2] + " recorded twice for " + policy);
        assertTrue(Set.of("ok", "rejected", "failed", "timed_out").contains(c[8]), row);
        boolean tm = Boolean.parseBoolean(c[14]), pm = Boolean.parseBoolean(c[15]), bm = Boolean.parseBoolean(c[16]);
        assertEquals(tm && pm, bm, row);
        if (!c[8].equals("ok")) assertFalse(tm || pm, "a request that did not end ok meets no SLO: " + row);
        if (tm) ttft++;
        if (pm) tpot++;
        if (bm) both++;
      }
      assertEquals(expected, seen, policy + ": every request of the workload ended exactly once");
      assertEquals(expected.size(), n);
      double[] table = tableRow(out.toString(), policy);
      assertEquals(n, (int) table[0], "sent column of " + policy);
      double[] fromCsv = {100.0 * ttft / n, 100.0 * tpot / n, 100.0 * both / n};
      for (int i = 0; i < 3; i++) {
        assertTrue(table[1 + i] >= 0 && table[1 + i] <= 100, "attainment in [0, 100]%: " + table[1 + i]);
        assertEquals(fromCsv[i], table[1 + i], 0.006, policy + " attainment column " + i + " vs the CSV\n" + out);
      }
    }

    // the static partition caps every model's KV at its share; Prism leaves it uncapped
    Map<String, Integer> samples = new HashMap<>();
    for (String row : Files.readAllLines(memory).subList(1, Files.readAllLines(memory).size())) {
      String[] c = row.split(",");
      long kv = Long.parseLong(c[6]), max = Long.parseLong(c[7]);
      samples.merge(c[0], 1, Integer::sum);
      if (c[0].equals("static")) {
        assertTrue(max > 0 && kv <= max, "static share respected: " + row);
      } else {
        assertEquals(-1, max, "Prism sets no page maximum: " + row);
      }
    }
    assertTrue(samples.getOrDefault("static", 0) > 0 && samples.getOrDefault("prism", 0) > 0, "memory was sampled in both runs: " + samples);
  }

  /** sent, TTFT%, TPOT%, both% of {@code policy}'s row in the printed table. */
  private static double[] tableRow(String out, String policy) {
    Matcher m = Pattern.compile("^" + Pattern.quote(policy) + "\\s+([\\d.]+)\\s+(\\d+)\\s+\\d+\\s+\\d+\\s+\\d+\\s+\\d+\\s+([\\d.]+)\\s+([\\d.]+)\\s+([\\d.]+)\\s",
        Pattern.MULTILINE).matcher(out);
    assertTrue(m.find(), "no table row for " + policy + " in\n" + out);
    return new double[] {Double.parseDouble(m.group(2)), Double.parseDouble(m.group(3)), Double.parseDouble(m.group(4)), Double.parseDouble(m.group(5))};
  }
}
