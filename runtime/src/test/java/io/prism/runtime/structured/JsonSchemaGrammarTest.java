package io.prism.runtime.structured;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.prism.runtime.format.Json;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class JsonSchemaGrammarTest {
  private static final ObjectMapper JACKSON = new ObjectMapper();

  /** Whether the grammar accepts {@code text} as a complete output. */
  static boolean accepts(Grammar g, String text) {
    List<Stack> s = List.of(g.initialStack());
    for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
      s = TokenMasks.advance(s, b & 0xff);
      if (s.isEmpty()) return false;
    }
    return s.stream().anyMatch(Stack::accepting);
  }

  @Test
  void acceptsExactlyTheValidTextsOfAFlatSchema() {
    Grammar g = JsonSchemaCompiler.compile(TestSchemas.ALL.get(0), true);
    assertTrue(accepts(g, "{\"name\":\"Ann\",\"age\":41,\"ok\":true}"));
    assertTrue(accepts(g, "{ \"name\": \"Ann\", \"age\": -0, \"ok\": false }"));
    assertFalse(accepts(g, "{\"name\":\"Ann\",\"age\":41}"), "missing required");
    assertFalse(accepts(g, "{\"age\":41,\"name\":\"Ann\",\"ok\":true}"), "declaration order");
    assertFalse(accepts(g, "{\"name\":\"Ann\",\"age\":4.5,\"ok\":true}"), "integer");
    assertFalse(accepts(g, "{\"name\":\"Ann\",\"age\":041,\"ok\":true}"), "leading zero");
    assertFalse(accepts(g, "{\"name\":\"Ann\",\"age\":41,\"ok\":true,\"x\":1}"), "additional");
    assertFalse(accepts(g, "{  \"name\":\"Ann\",\"age\":41,\"ok\":true}"), "whitespace bound");
    assertFalse(accepts(g, " {\"name\":\"Ann\",\"age\":41,\"ok\":true}"), "leading whitespace");
  }

  @Test
  void stringsAreWellFormedUtf8WithValidEscapesAndCountedLengths() {
    Grammar g = JsonSchemaCompiler.compile("{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}", false);
    assertTrue(accepts(g, "\"ab\""));
    assertTrue(accepts(g, "\"a\\u00e9\\n\""));
    assertTrue(accepts(g, "\"\uD83D\uDE00é\""), "two code points");
    assertFalse(accepts(g, "\"a\""));
    assertFalse(accepts(g, "\"abcd\""));
    assertFalse(accepts(g, "\"a\\x\""), "bad escape");
    assertFalse(accepts(g, "\"a\\ud83d\""), "surrogate escape");
    assertFalse(accepts(g, "\"a\tb\""), "raw control character");
    List<Stack> s = List.of(g.initialStack());
    for (int b : new int[] {'"', 0xC0}) s = TokenMasks.advance(s, b);
    assertTrue(s.isEmpty(), "overlong lead byte C0");
    s = List.of(g.initialStack());
    for (int b : new int[] {'"', 0xED, 0xA0}) s = TokenMasks.advance(s, b);
    assertTrue(s.isEmpty(), "UTF-8 surrogate ED A0");
  }

  @Test
  void enumsRefsAndRecursionCompile() {
    assertTrue(accepts(JsonSchemaCompiler.compile(TestSchemas.ALL.get(3), true), "{\"color\":null,\"kind\":\"fixed\"}"));
    assertFalse(accepts(JsonSchemaCompiler.compile(TestSchemas.ALL.get(3), true), "{\"color\":\"pink\",\"kind\":\"fixed\"}"));
    Grammar tree = JsonSchemaCompiler.compile(TestSchemas.ALL.get(6), false);
    assertTrue(accepts(tree, "{\"v\":1,\"kids\":[{\"v\":2},{\"v\":3,\"kids\":[{\"v\":4}]}]}"));
    assertFalse(accepts(tree, "{\"v\":1,\"kids\":[{\"v\":2},{\"v\":3},{\"v\":4}]}"), "maxItems");
    Grammar extra = JsonSchemaCompiler.compile(TestSchemas.ALL.get(7), false);
    assertTrue(accepts(extra, "{\"id\":1,\"x\":true,\"y\":false}"));
    assertFalse(accepts(extra, "{\"id\":1,\"id\":true}"), "an additional key may not repeat a declared name");
    assertTrue(accepts(Grammar.anyJsonObject(), "{\"a\":[1,{\"b\":null}],\"c\":\"d\"}"));
    assertFalse(accepts(Grammar.anyJsonObject(), "[1]"));
  }

  @Test
  void refusesUnsupportedKeywordsNamingThem() {
    SchemaException e = assertThrows(SchemaException.class,
        () -> JsonSchemaCompiler.compile("{\"type\":\"object\",\"properties\":{\"s\":{\"type\":\"string\",\"pattern\":\"a+\"}}}", false));
    assertEquals("pattern", e.keyword());
    assertEquals("#/properties/s", e.path());
    assertTrue(e.getMessage().contains("pattern"), e.getMessage());
    assertEquals("minimum", assertThrows(SchemaException.class, () -> JsonSchemaCompiler.compile("{\"type\":\"integer\",\"minimum\":1}", false)).keyword());
    assertEquals("$ref", assertThrows(SchemaException.class, () -> JsonSchemaCompiler.compile("{\"$ref\":\"#\"}", false)).keyword());
    assertEquals("additionalProperties", assertThrows(SchemaException.class,
        () -> JsonSchemaCompiler.compile("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},\"required\":[\"a\"]}", true)).keyword());
    assertEquals("required", assertThrows(SchemaException.class, () -> JsonSchemaCompiler.compile(
        "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},\"additionalProperties\":false}", true)).keyword());
    assertEquals("minLength", assertThrows(SchemaException.class, () -> JsonSchemaCompiler.compile("{\"type\":\"string\",\"minLength\":3,\"maxLength\":2}", false)).keyword());
  }

  /** A small byte-level vocabulary: every single byte, JSON fragments, and a stop token with no bytes. */
  static TokenVocabulary testVocabulary() {
    List<byte[]> t = new ArrayList<>();
    for (int b = 0; b < 256; b++) t.add(new byte[] {(byte) b});
    for (String f : List.of("{\"", "\":", "\": ", "\",\"", "\"}", "\"]", "},{", "true", "false", "null", "12", "0.5", "e-3", "ab", "cd ", "é", "\\n",
        "\\u00e9", "\":\"", "[{", "}]", "]}", "\"x\":", "\"v\":", "\"kids\":[", "\"name\":\"", "\"red\"", ", ", "\"\"", " }")) {
      t.add(f.getBytes(StandardCharsets.UTF_8));
    }
    t.add(new byte[] {(byte) 0xF0, (byte) 0x9F}); // half an emoji
    t.add(new byte[] {(byte) 0x98, (byte) 0x80});
    t.add(null); // stop token
    return TokenVocabulary.of(t.toArray(new byte[0][]), new int[] {t.size() - 1});
  }

  @Test
  void masksEqualBruteForceAndRandomOutputsAlwaysValidate() throws Exception {
    TokenVocabulary v = testVocabulary();
    int stop = v.size() - 1;
    int complete = 0;
    for (int si = 0; si < TestSchemas.ALL.size(); si++) {
      String schemaText = TestSchemas.ALL.get(si);
      Object schema = Json.parse(schemaText);
      TokenMasks masks = new TokenMasks(JsonSchemaCompiler.compile(schemaText, false), v, 256);
      for (int seed = 0; seed < 20; seed++) {
        SplittableRandom rng = new SplittableRandom(seed * 31L + si);
        ConstraintState st = masks.newState();
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        boolean ended = false;
        for (int step = 0; step < 400 && !ended; step++) {
          TokenMask m = st.mask();
          if (seed < 4 && step < 30) assertMaskIsExact(v, st, m);
          assertTrue(m.count() > 0, "dead state in schema " + (si + 1));
          int tok = pick(m, v, rng, stop);
          if (tok == stop) {
            assertTrue(st.accepting());
            ended = true;
          } else {
            st.advance(tok);
            out.write(v.bytes(tok));
            if (st.complete()) ended = true;
          }
        }
        if (!ended) continue;
        complete++;
        byte[] bytes = out.toByteArray();
        String text = strictUtf8(bytes);
        JACKSON.readTree(bytes); // a strict parser agrees it is JSON
        List<String> errors = SchemaValidator.validate(Json.parse(text), schema);
        if (!errors.isEmpty()) fail("schema " + (si + 1) + " seed " + seed + ": " + text + " -> " + errors);
      }
    }
    assertTrue(complete >= 150, "most random walks end: " + complete + " of 200");
  }

  private static int pick(TokenMask m, TokenVocabulary v, SplittableRandom rng, int stop) {
    if (m.allows(stop) && rng.nextInt(3) == 0) return stop;
    List<Integer> allowed = new ArrayList<>();
    for (int id = 0; id < v.size(); id++) if (m.allows(id)) allowed.add(id);
    List<Integer> closing = new ArrayList<>();
    for (int id : allowed) {
      byte[] b = v.bytes(id);
      if (b != null && (b[0] == '"' || b[0] == '}' || b[0] == ']' || b.length > 1)) closing.add(id);
    }
    if (!closing.isEmpty() && rng.nextInt(2) == 0) return closing.get(rng.nextInt(closing.size()));
    return allowed.get(rng.nextInt(allowed.size()));
  }

  private static void assertMaskIsExact(TokenVocabulary v, ConstraintState st, TokenMask m) {
    for (int id = 0; id < v.size(); id++) {
      boolean ok;
      if (v.isStop(id)) {
        ok = st.accepting();
      } else {
        List<Stack> s = st.states();
        for (byte b : v.bytes(id)) {
          s = TokenMasks.advance(s, b & 0xff);
          if (s.isEmpty()) break;
        }
        ok = !s.isEmpty();
      }
      assertEquals(ok, m.allows(id), "token " + id + " at " + st.states());
    }
  }

  static String strictUtf8(byte[] bytes) throws CharacterCodingException {
    return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT)
        .decode(ByteBuffer.wrap(bytes)).toString();
  }
}
