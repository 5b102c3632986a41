package io.prism.actors.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.prism.actors.PrismConfig;
import io.prism.actors.PrismSettings;
import io.prism.actors.PrismNode;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The host tier's bound and the pinned pool of a cuda node, read from config: defaults, explicit values, errors naming the key. */
class HostTierSettingsTest {
  private static Config config(Map<String, Object> overrides) {
    return PrismNode.withGpuDispatchers(PrismConfig.load(ConfigFactory.parseMap(overrides)), 0);
  }

  @Test
  void thePinnedPoolDefaultsToTheHostTiersBoundIn256MiBChunks() {
    Config c = config(Map.of("prism.node.host-tier-bytes", "3GiB"));
    HostTierSettings.PinnedPool p = HostTierSettings.pinnedPool(c);
    assertEquals(3L << 30, p.bytes());
    assertEquals(256L << 20, p.chunkBytes());
    assertEquals(Duration.ofSeconds(10), p.maxWait());
    assertEquals(p, PrismSettings.from(c).hostPool(), "the settings the devices are opened with");
    // auto tier: the pool follows the fraction of memory the tier is bounded by
    Config auto = config(Map.of("prism.node.host-tier-fraction", 0.25));
    assertEquals(HostTierSettings.limitBytes(auto), HostTierSettings.pinnedPool(auto).bytes());
  }

  @Test
  void explicitPoolBytesChunkAndWaitAreTaken() {
    HostTierSettings.PinnedPool p = HostTierSettings.pinnedPool(config(Map.of(
        "prism.node.host-tier-bytes", "3GiB", "prism.node.host-pool-bytes", "0", "prism.node.host-pool-chunk", "1GiB",
        "prism.node.host-pool-wait", "250ms")));
    assertEquals(new HostTierSettings.PinnedPool(0, 1L << 30, Duration.ofMillis(250)), p);
    assertEquals(5L << 30, HostTierSettings.pinnedPool(config(Map.of("prism.node.host-pool-bytes", "5GiB"))).bytes());
  }

  @Test
  void outOfRangeValuesNameTheirKey() {
    for (Map<String, Object> bad : java.util.List.<Map<String, Object>>of(Map.of("prism.node.host-pool-bytes", "-1"),
        Map.of("prism.node.host-pool-chunk", "0"), Map.of("prism.node.host-pool-wait", "-1s"))) {
      String key = bad.keySet().iterator().next().substring("prism.node.".length());
      // IllegalArgumentException from the checks, or ConfigException where the config library refuses a negative size first
      RuntimeException e = assertThrows(RuntimeException.class, () -> HostTierSettings.pinnedPool(config(bad)));
      assertTrue(e instanceof IllegalArgumentException || e instanceof com.typesafe.config.ConfigException, e.toString());
      assertTrue(e.getMessage().contains(key), e.getMessage());
    }
  }
}
