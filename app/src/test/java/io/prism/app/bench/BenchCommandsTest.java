package io.prism.app.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.app.cli.PrismCli;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * {@code prism bench serve} and {@code prism bench admission} with tiny parameters on
 * random:stories260K: each prints its table with one row per configuration, and every request
 * sent ended (the "ended" columns). Not timed: the numbers are not checked.
 */
class BenchCommandsTest {
  private record Result(int exitCode, String out, String err) {}

  private static Result run(String... args) {
    CommandLine cl = PrismCli.commandLine();
    StringWriter out = new StringWriter(), err = new StringWriter();
    cl.setOut(new PrintWriter(out, true));
    cl.setErr(new PrintWriter(err, true));
    int code = cl.execute(args);
    return new Result(code, out.toString(), err.toString());
  }

  @Test
  void benchServePrintsARowPerConcurrencyAndEveryRequestEnds() {
    Result r = run("bench", "serve", "--model", "random:stories260K", "--concurrency", "1,3", "--rounds", "1", "--prompt-tokens", "4",
        "--max-tokens", "5", "--gpu-memory", "64MiB", "--no-warm-up");
    assertEquals(0, r.exitCode(), r.err() + r.out());
    // C | engine tok/s TPOT TTFT | server tok/s TPOT TTFT | ratios | server ok/sent engine ok/sent
    Pattern row = Pattern.compile("^\\s*(\\d+) \\|.*\\| (\\d+)/(\\d+) (\\d+)/(\\d+)$", Pattern.MULTILINE);
    Matcher m = row.matcher(r.out());
    int rows = 0;
    for (int c : List.of(1, 3)) {
      assertTrue(m.find(), r.out());
      rows++;
      assertEquals(c, Integer.parseInt(m.group(1)), r.out());
      assertEquals(String.valueOf(c), m.group(3), "server requests of one round at C=" + c + "\n" + r.out());
      assertEquals(m.group(3), m.group(2), "every server request ended normally\n" + r.out());
      assertEquals(String.valueOf(c), m.group(5), r.out());
      assertEquals(m.group(5), m.group(4), "every engine request ended normally\n" + r.out());
    }
    assertEquals(2, rows);
    assertTrue(!m.find(), "no extra rows\n" + r.out());
  }

  @Test
  void benchAdmissionPrintsARowPerModeAndEveryRequestEnds() {
    Result r = run("bench", "admission", "--model", "random:stories260K", "--models", "2", "--rate", "20", "--duration", "500ms",
        "--max-requests", "8", "--capacity-requests", "4", "--prompt-tokens", "8", "--max-tokens", "4", "--ttft-slo", "5s",
        "--gpu-memory", "64MiB", "--no-warm-up");
    assertEquals(0, r.exitCode(), r.err() + r.out());
    Pattern row = Pattern.compile("^(on|off)\\s+(\\d+)\\s+(\\d+)\\s.*\\s(\\d+)/(\\d+)\\s*$", Pattern.MULTILINE);
    Matcher m = row.matcher(r.out());
    for (String mode : List.of("off", "on")) {
      assertTrue(m.find(), r.out());
      assertEquals(mode, m.group(1), r.out());
      int sent = Integer.parseInt(m.group(2));
      assertEquals(8, sent, "20/s for 0.5 s, at most 8\n" + r.out());
      assertEquals(sent, Integer.parseInt(m.group(5)), r.out());
      assertEquals(sent, Integer.parseInt(m.group(4)), "every request ended\n" + r.out());
      assertTrue(Integer.parseInt(m.group(3)) >= 1, "some admitted\n" + r.out());
    }
    assertTrue(!m.find(), "no extra rows\n" + r.out());
  }
}
