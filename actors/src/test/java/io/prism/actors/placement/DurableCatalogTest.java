package io.prism.actors.placement;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.actors.ModelSpec;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The replicated catalog's text form: v2 carries max replicas; v1 entries of earlier versions still read. */
class DurableCatalogTest {
  @Test
  void v2RoundTripsEveryFieldAndV1ReadsAsOneReplica() {
    ModelSpec spec = new ModelSpec("a b\tc", "/models/x.gguf", null, Duration.ofMillis(1500), Duration.ofMillis(80), 12345, 2, 64, 3);
    String text = DurableCatalog.encode(spec);
    assertTrue(text.startsWith("v2\t"), text);
    assertEquals(spec, DurableCatalog.decode(text));
    String v1 = "v1\tm\t%2Fmodels%2Fm.bin\t\tPT2S\tPT0.2S\t99\t0\t0";
    assertEquals(new ModelSpec("m", "/models/m.bin", null, Duration.ofSeconds(2), Duration.ofMillis(200), 99, 0, 0, 1), DurableCatalog.decode(v1));
    assertThrows(IllegalArgumentException.class, () -> DurableCatalog.decode("v3\tm"));
    assertThrows(IllegalArgumentException.class, () -> DurableCatalog.decode(v1 + "\t2"));
  }
}
