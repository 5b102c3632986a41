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
}
