package io.prism.http.security;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class ApiKeysTest {
  private static final String A = "sk-prism-aaaaaaaaaaaaaaaa";
  private static final String B = "sk-prism-bbbbbbbbbbbbbbbb";

  @Test
  void matchesOnlyTheConfiguredKeysExactly() {
    ApiKeys keys = ApiKeys.of("k", List.of(A, " " + B + " ", ""));
    assertEquals(2, keys.size());
    assertTrue(keys.matches(A));
    assertTrue(keys.matches(B));
    assertFalse(keys.matches(A.toUpperCase()));
    assertFalse(keys.matches(A + " "));
    assertFalse(keys.matches(A.substring(1)));
    assertFalse(keys.matches(""));
    assertFalse(keys.matches(null));
    assertFalse(ApiKeys.none().matches(A));
    assertTrue(ApiKeys.of("k", List.of("", " ")).isEmpty());
  }

  @Test
  void readsAStringWithCommasOrAListFromConfig() {
    ApiKeys fromString = ApiKeys.from(ConfigFactory.parseString("key = \"" + A + "," + B + "\""), "key");
    assertTrue(fromString.matches(A) && fromString.matches(B));
    ApiKeys fromList = ApiKeys.from(ConfigFactory.parseString("key = [\"" + A + "\", \"" + B + "\"]"), "key");
    assertTrue(fromList.matches(A) && fromList.matches(B));
    assertTrue(ApiKeys.from(ConfigFactory.parseString("key = \"\""), "key").isEmpty());
    assertTrue(ApiKeys.from(ConfigFactory.empty(), "key").isEmpty());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ApiKeys.from(ConfigFactory.parseString("key {a = 1}"), "key"));
    assertTrue(e.getMessage().contains("key must be a string or a list"), e.getMessage());
  }

  @Test
  void refusesGuessableOrMalformedKeysWithoutPrintingThem() {
    String shortKey = "secret123";
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ApiKeys.of("prism.http.api-key", List.of(A, shortKey)));
    assertTrue(e.getMessage().startsWith("prism.http.api-key: key 2 has 9 characters"), e.getMessage());
    assertFalse(e.getMessage().contains(shortKey), e.getMessage());
    String spaced = "sk-prism with a space inside";
    e = assertThrows(IllegalArgumentException.class, () -> ApiKeys.of("prism.http.api-key", List.of(spaced)));
    assertFalse(e.getMessage().contains(spaced), e.getMessage());
  }

  @Test
  void neverShowsTheKeysInToString() {
    ApiKeys keys = ApiKeys.of("k", List.of(A, B));
    assertEquals("ApiKeys[2 keys]", keys.toString());
    HttpAuthSettings s = new HttpAuthSettings(keys, ApiKeys.of("k", List.of(B)), List.of("/health"), false);
    assertFalse(s.toString().contains(A) || s.toString().contains(B), s.toString());
  }

  @Test
  void parsesBearerCredentialsInAnyCase() {
    assertEquals(Optional.of(A), ApiKeyAuth.bearerToken("Bearer " + A));
    assertEquals(Optional.of(A), ApiKeyAuth.bearerToken("bEaReR   " + A + " "));
    assertEquals(Optional.empty(), ApiKeyAuth.bearerToken("Basic " + A));
    assertEquals(Optional.empty(), ApiKeyAuth.bearerToken("Bearer"));
    assertEquals(Optional.empty(), ApiKeyAuth.bearerToken("Bearer   "));
    assertEquals(Optional.empty(), ApiKeyAuth.bearerToken(A));
  }
}
