package io.prism.http.security;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.prism.actors.PrismConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The bind rule, the defaults of {@code reference.conf}, and the shipped profiles against them. */
class HttpAuthSettingsTest {
  private static final String KEY = "sk-prism-0123456789abcdef";

  private static HttpAuthSettings settings(Map<String, Object> http) {
    return HttpAuthSettings.from(PrismConfig.load(ConfigFactory.parseMap(http)));
  }

  @Test
  void defaultsAreNoKeysHealthAndReadyOpenAndNoUnauthenticatedExposure() {
    HttpAuthSettings s = settings(Map.of());
    if (System.getenv("PRISM_API_KEY") == null) assertTrue(s.inferenceKeys().isEmpty());
    assertEquals(List.of("/health", "/ready"), s.openPaths());
    assertFalse(s.allowUnauthenticated());
  }

  @Test
  void aNonLoopbackHostWithoutAnApiKeyIsRefusedWithTheFix() {
    HttpAuthSettings open = new HttpAuthSettings(ApiKeys.none(), ApiKeys.none(), List.of(), false);
    for (String host : List.of("0.0.0.0", "::", "10.0.0.1", "no-such-host.invalid")) {
      IllegalStateException e = assertThrows(IllegalStateException.class, () -> open.checkBind(host), host);
      assertTrue(e.getMessage().startsWith("refusing to serve HTTP on " + host + " without an API key"), e.getMessage());
      assertTrue(e.getMessage().contains("PRISM_API_KEY") && e.getMessage().contains("prism.http.allow-unauthenticated = on"), e.getMessage());
    }
    for (String host : List.of("127.0.0.1", "localhost", "::1", "127.0.0.2")) assertDoesNotThrow(() -> open.checkBind(host), host);
    // an admin key alone leaves the inference API open: still refused
    HttpAuthSettings adminOnly = new HttpAuthSettings(ApiKeys.none(), ApiKeys.of("k", List.of(KEY)), List.of(), false);
    assertThrows(IllegalStateException.class, () -> adminOnly.checkBind("0.0.0.0"));
    assertDoesNotThrow(() -> settings(Map.of("prism.http.api-key", KEY)).checkBind("0.0.0.0"));
    assertDoesNotThrow(() -> settings(Map.of("prism.http.allow-unauthenticated", true)).checkBind("0.0.0.0"));
  }

  @Test
  void everyShippedProfileWithoutAKeyBindsLoopback() throws Exception {
    Path conf = Path.of("..", "conf");
    List<Path> profiles;
    try (var files = Files.list(conf)) {
      profiles = files.filter(p -> p.toString().endsWith(".conf")).sorted().toList();
    }
    assertTrue(profiles.size() >= 3, "profiles found in " + conf.toAbsolutePath() + ": " + profiles);
    for (Path p : profiles) {
      // the TLS profile's passwords come from the environment (required there): stand-ins here
      Config passwords = ConfigFactory.parseMap(Map.of("pekko.remote.artery.ssl.config-ssl-engine.key-store-password", "x",
          "pekko.remote.artery.ssl.config-ssl-engine.key-password", "x", "pekko.remote.artery.ssl.config-ssl-engine.trust-store-password", "x"));
      Config c = PrismConfig.load(passwords.withFallback(ConfigFactory.parseFile(p.toFile())));
      HttpAuthSettings s = HttpAuthSettings.from(c);
      String host = c.getString("prism.http.host");
      assertDoesNotThrow(() -> s.checkBind(host), p + " binds " + host);
      if (s.inferenceKeys().isEmpty()) assertTrue(HttpAuthSettings.isLoopback(host), p + " binds " + host + " without a key");
    }
  }
}
