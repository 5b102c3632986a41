package io.prism.runtime.policy.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Reads the real traces beside the repository (facts from the traces README and the files' first rows). */
class TracesTest {
  private static final Path DIR = Traces.defaultDir();

  @Test
  void readsServeGenRatesPerModelClassInWindowOrder() {
    Map<String, double[]> rates = Traces.readServeGenRates(DIR.resolve(Traces.SERVEGEN_RATES));
    // 14 days of 10-minute windows for the three language models, one day for the others.
    assertEquals(2016, rates.get("m-small").length);
    assertEquals(2016, rates.get("m-mid").length);
    assertEquals(2016, rates.get("m-large").length);
    assertEquals(144, rates.get("deepseek-r1").length);
    assertEquals(144, rates.get("mm-image").length);
    // First window of m-large (file row "0,m-large,212.78,43").
    assertEquals(212.78, rates.get("m-large")[0], 1e-9);
  }

  @Test
  void readsAzureRequestLengths() {
    List<Traces.Lengths> conv = Traces.readAzureLengths(DIR.resolve(Traces.AZURE_CONV));
    List<Traces.Lengths> code = Traces.readAzureLengths(DIR.resolve(Traces.AZURE_CODE));
    assertEquals(19366, conv.size());
    assertEquals(new Traces.Lengths(374, 44), conv.get(0));
    assertTrue(code.size() > 8000, "code trace has ~8,819 requests, got " + code.size());
    assertEquals(new Traces.Lengths(4808, 10), code.get(0));
  }

  @Test
  void readsAzureArrivalTimesRelativeToTheFirstRequest() {
    List<Traces.TimedRequest> code = Traces.readAzureRequests(DIR.resolve(Traces.AZURE_CODE));
    // rows "2023-11-16 18:17:03.9799600,4808,10" and "2023-11-16 18:17:04.0319600,3180,8"
    assertEquals(new Traces.TimedRequest(0, 4808, 10), code.get(0));
    assertEquals(new Traces.TimedRequest(52_000_000L, 3180, 8), code.get(1));
    for (int i = 1; i < code.size(); i++) assertTrue(code.get(i).offsetNanos() >= code.get(i - 1).offsetNanos(), "sorted by time at " + i);
    assertTrue(code.get(code.size() - 1).offsetNanos() > 50L * 60 * 1_000_000_000L, "about 57 minutes");
  }

  @Test
  void readsMooncakeArrivalTimesAndLengths() {
    List<Traces.TimedRequest> m = Traces.readMooncakeRequests(DIR.resolve(Traces.MOONCAKE_CONV));
    assertEquals(12031, m.size());
    assertEquals(new Traces.TimedRequest(0, 6758, 500), m.get(0));
    // last line: timestamp 3536999 ms, input 20774, output 508
    assertEquals(new Traces.TimedRequest(3_536_999_000_000L, 20774, 508), m.get(m.size() - 1));
  }
}
