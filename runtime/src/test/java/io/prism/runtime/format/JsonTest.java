package io.prism.runtime.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonTest {
  @Test
  void readsObjectsArraysStringsAndNumbers() {
    assertEquals(Map.of("a", List.of(1L, 2.5, true), "b", "x\n\u00e9"), Json.parse(" {\"a\": [1, 2.5, true], \"b\": \"x\\n\\u00e9\"} "));
  }

  /** A model's answer cut by max_tokens is JSON cut short: every prefix is a syntax error, never another exception. */
  @Test
  void everyPrefixOfADocumentIsAModelFormatExceptionNamingTheEnd() {
    String doc = "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Par\\u00eds\", \"days\": [1, 2], \"ok\": null}}";
    for (int n = 0; n < doc.length(); n++) {
      String prefix = doc.substring(0, n);
      ModelFormatException e = assertThrows(ModelFormatException.class, () -> Json.parse(prefix), prefix);
      assertTrue(e.getMessage().contains("offset"), e.getMessage());
    }
    assertEquals(3, ((Map<?, ?>) ((Map<?, ?>) Json.parse(doc)).get("arguments")).size(), "the whole document reads");
  }

  @Test
  void badUnicodeEscapeIsASyntaxError() {
    ModelFormatException e = assertThrows(ModelFormatException.class, () -> Json.parse("\"\\u12g4\""));
    assertTrue(e.getMessage().contains("\\u escape"), e.getMessage());
    assertThrows(ModelFormatException.class, () -> Json.parse("\"\\u+123\""));
  }
}
