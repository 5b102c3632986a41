package io.prism.actors;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;

/**
 * Builds the configuration of a Prism actor system. Precedence, highest first: JVM system
 * properties, {@code overrides} (command-line flags, tests), {@code application.conf}, Prism's
 * Pekko settings ({@code io/prism/actors/pekko-defaults.conf}: cluster provider, Kryo binding,
 * Artery on 127.0.0.1:25520, split-brain resolver ...), then every {@code reference.conf} (where
 * the {@code prism.*} defaults live).
 *
 * <p>Prism's Pekko settings are not in a {@code reference.conf} because a library's reference must
 * not override another library's keys: which would win depends on the class path order.
 */
public final class PrismConfig {
  /** Class-path resource with Prism's settings for Pekko. */
  public static final String PEKKO_DEFAULTS = "io/prism/actors/pekko-defaults.conf";

  private PrismConfig() {}

  /** The resolved config for {@code overrides} (use {@link ConfigFactory#empty()} for none). */
  public static Config load(Config overrides) {
    ConfigFactory.invalidateCaches();
    return ConfigFactory.systemProperties()
        .withFallback(overrides)
        .withFallback(ConfigFactory.defaultApplication())
        .withFallback(ConfigFactory.parseResources(PrismConfig.class.getClassLoader(), PEKKO_DEFAULTS))
        .withFallback(ConfigFactory.defaultReferenceUnresolved())
        .resolve();
  }
}
