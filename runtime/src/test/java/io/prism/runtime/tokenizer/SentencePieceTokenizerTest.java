package io.prism.runtime.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.format.ModelFormatException;
import io.prism.runtime.model.SharedModels;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SentencePieceTokenizerTest {
  static SentencePieceTokenizer tok512;
  static SentencePieceTokenizer llama;

  @BeforeAll
  static void load() {
    tok512 = SentencePieceTokenizer.fromLlama2cFile(SharedModels.file("tok512.bin"));
    llama = SentencePieceTokenizer.fromLlama2cFile(SharedModels.file("tokenizer.bin"));
  }

  @Test
  void readsVocabularySizesAndSpecialIds() {
    assertEquals(512, tok512.vocabSize());
    assertEquals(32000, llama.vocabSize());
    assertEquals(1, tok512.bosId());
    assertEquals(2, tok512.eosId());
    assertTrue(tok512.byteFallback());
    assertTrue(llama.byteFallback());
  }

  @Test
  void encodesPromptWithBosAndDecodesBackToText() {
    String text = "Once upon a time";
    int[] ids = tok512.encode(text, true, false);
    assertEquals(1, ids[0]);
    assertTrue(ids.length < text.length(), "merges must shorten the sequence");
    assertEquals(text, decodeAfterBos(tok512, ids));
    int[] withEos = tok512.encode(text, true, true);
    assertEquals(2, withEos[withEos.length - 1]);
  }

  @Test
  void emptyTextHasNoDummyPrefix() {
    assertArrayEquals(new int[] {1}, tok512.encode("", true, false));
    assertEquals(0, tok512.encode("", false, false).length);
  }

  @Test
  void fallsBackToBytesForCharactersMissingFromTheVocabulary() {
    String text = "café ☃";
    int[] ids = tok512.encode(text, true, false);
    long byteTokens = java.util.Arrays.stream(ids).filter(id -> tok512.tokenType(id) == SentencePieceTokenizer.TYPE_BYTE).count();
    assertTrue(byteTokens >= 3, "the snowman alone needs 3 byte tokens");
    for (int id : ids) {
      if (tok512.tokenType(id) == SentencePieceTokenizer.TYPE_BYTE) {
        assertEquals(tok512.piece(id), String.format("<0x%02X>", id - 3), "llama byte tokens are id = byte + 3");
      }
    }
    assertEquals(text, decodeAfterBos(tok512, ids));
  }

  @Test
  void roundTripsMixedScriptTextOnTheLlamaVocabulary() {
    for (String text : new String[] {"Hello, world!", "  two leading spaces", "Привет, 世界! 👋 tabs\tand\nnewlines", "a"}) {
      assertEquals(text, decodeAfterBos(llama, llama.encode(text, true, false)), text);
    }
  }

  @Test
  void streamingDetokenizerNeverSplitsACharacter() {
    String text = "Snow ☃☃ and emoji 👋🏽 in a café — “quoted”";
    for (SentencePieceTokenizer t : new SentencePieceTokenizer[] {tok512, llama}) {
      int[] ids = t.encode(text, true, false);
      StreamingDetokenizer d = new StreamingDetokenizer(t, ids[0]);
      StringBuilder sb = new StringBuilder();
      for (int i = 1; i < ids.length; i++) {
        String chunk = d.next(ids[i]);
        assertFalse(chunk.contains("\uFFFD"), "chunk split a character: " + chunk);
        sb.append(chunk);
      }
      sb.append(d.flush());
      assertEquals(text, sb.toString());
    }
  }

  @Test
  void decodeStripsLeadingSpaceOnlyAfterBos() {
    int[] ids = tok512.encode("Once", false, false);
    byte[] afterBos = tok512.decodeBytes(1, ids[0]);
    byte[] afterOther = tok512.decodeBytes(ids[0], ids[0]);
    assertEquals(afterOther.length - 1, afterBos.length);
    assertEquals(' ', afterOther[0]);
    assertEquals(0, tok512.decodeBytes(5, 1).length, "BOS decodes to nothing");
    assertEquals(0, tok512.decodeBytes(5, 2).length, "EOS decodes to nothing");
    assertThrows(IllegalArgumentException.class, () -> tok512.decodeBytes(1, 512));
  }

  @Test
  void matchesQuadraticReferenceEncoderOnRandomText() {
    SplittableRandom rnd = new SplittableRandom(7);
    String alphabet = "abcdefghijklmnopqrstuvwxyz     ,.!?'\"\nTOLéü☃世界👋";
    for (SentencePieceTokenizer t : new SentencePieceTokenizer[] {tok512, llama}) {
      for (int trial = 0; trial < 200; trial++) {
        int len = rnd.nextInt(60);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < len; i++) sb.appendCodePoint(alphabet.codePointAt(alphabet.offsetByCodePoints(0, rnd.nextInt(alphabet.codePointCount(0, alphabet.length())))));
        String text = sb.toString();
        assertArrayEquals(referenceEncode(t, text), t.encode(text, false, false), "text: " + text);
      }
    }
  }

  @Test
  void breaksScoreTiesTowardsTheLeftmostPairLikeTheReference() {
    SplittableRandom rnd = new SplittableRandom(11);
    List<String> pieces = new ArrayList<>(List.of("<unk>", "<s>", "</s>", " ", "a", "b", "c"));
    String letters = " abc";
    while (pieces.size() < 40) {
      StringBuilder p = new StringBuilder();
      int len = 2 + rnd.nextInt(3);
      for (int i = 0; i < len; i++) p.append(letters.charAt(rnd.nextInt(letters.length())));
      if (!pieces.contains(p.toString())) pieces.add(p.toString());
    }
    float[] scores = new float[pieces.size()];
    for (int i = 3; i < scores.length; i++) scores[i] = -rnd.nextInt(3); // many ties
    SentencePieceTokenizer t = new SentencePieceTokenizer(pieces.toArray(new String[0]), scores, 1, 2, false);
    for (int trial = 0; trial < 300; trial++) {
      StringBuilder sb = new StringBuilder();
      int len = rnd.nextInt(30);
      for (int i = 0; i < len; i++) sb.append(letters.charAt(rnd.nextInt(letters.length())));
      assertArrayEquals(referenceEncode(t, sb.toString()), t.encode(sb.toString(), false, false), "text: '" + sb + "'");
    }
  }

  @Test
  void rejectsUnknownBytesWithoutFallback() {
    SentencePieceTokenizer t = new SentencePieceTokenizer(new String[] {"<unk>", "<s>", "</s>", " ", "a", "b", " a"}, new float[] {0, 0, 0, -1, -2, -3, -0.5f}, 1, 2, false);
    assertArrayEquals(new int[] {1, 6, 5}, t.encode("ab", true, false));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.encode("ac", false, false));
    assertTrue(e.getMessage().contains("0x63"), e.getMessage());
  }

  @Test
  void refusesByteFallbackWithoutBytePieces() {
    assertThrows(IllegalArgumentException.class, () -> new SentencePieceTokenizer(new String[] {"<unk>", "<s>", "</s>", " "}, new float[4], 1, 2, true));
  }

  @Test
  void treatsMetaSpaceAsSpaceInGgufVocabularies() {
    String[] pieces = new String[tok512.vocabSize()];
    float[] scores = new float[pieces.length];
    int[] types = new int[pieces.length];
    for (int i = 0; i < pieces.length; i++) {
      pieces[i] = tok512.piece(i).replace(' ', '\u2581');
      scores[i] = tok512.score(i);
      types[i] = tok512.tokenType(i);
    }
    SentencePieceTokenizer g = SentencePieceTokenizer.fromGgufVocab(pieces, scores, types, 1, 2);
    String text = "Once upon a time, a café ☃";
    assertArrayEquals(tok512.encode(text, true, false), g.encode(text, true, false));
  }

  @Test
  void reportsTruncatedTokenizerFile(@TempDir Path dir) throws Exception {
    byte[] all = Files.readAllBytes(SharedModels.file("tok512.bin"));
    Path cut = dir.resolve("cut.bin");
    Files.write(cut, java.util.Arrays.copyOf(all, all.length - 3));
    ModelFormatException e = assertThrows(ModelFormatException.class, () -> SentencePieceTokenizer.fromLlama2cFile(cut));
    assertTrue(e.getMessage().startsWith("cut.bin: token 511"), e.getMessage());
    assertTrue(e.getMessage().contains("truncated"), e.getMessage());
  }

  private static String decodeAfterBos(Tokenizer t, int[] ids) {
    StreamingDetokenizer d = new StreamingDetokenizer(t, ids[0]);
    StringBuilder sb = new StringBuilder();
    for (int i = 1; i < ids.length; i++) sb.append(d.next(ids[i]));
    return sb.append(d.flush()).toString();
  }

  /** run.c's encode(): the quadratic best-pair scan, written independently from the tokenizer. */
  private static final java.util.Map<SentencePieceTokenizer, java.util.Map<String, Integer>> LOOKUPS = new java.util.IdentityHashMap<>();

  static int[] referenceEncode(SentencePieceTokenizer t, String text) {
    java.util.Map<String, Integer> lookup = LOOKUPS.computeIfAbsent(t, k -> {
      java.util.Map<String, Integer> m = new java.util.HashMap<>();
      for (int i = 0; i < k.vocabSize(); i++) {
        int type = k.tokenType(i);
        if (type == SentencePieceTokenizer.TYPE_NORMAL || type == SentencePieceTokenizer.TYPE_USER_DEFINED) m.putIfAbsent(k.piece(i), i);
      }
      return m;
    });
    List<Integer> tokens = new ArrayList<>();
    if (text.isEmpty()) return new int[0];
    tokens.add(lookup.get(" "));
    text.codePoints().forEach(cp -> {
      String ch = new String(Character.toChars(cp));
      Integer id = lookup.get(ch);
      if (id != null) {
        tokens.add(id);
      } else {
        for (byte b : ch.getBytes(StandardCharsets.UTF_8)) tokens.add((b & 0xFF) + 3);
      }
    });
    while (true) {
      float best = -1e10f;
      int bestIdx = -1, bestId = -1;
      for (int i = 0; i + 1 < tokens.size(); i++) {
        if (t.tokenType(tokens.get(i)) == SentencePieceTokenizer.TYPE_BYTE || t.tokenType(tokens.get(i + 1)) == SentencePieceTokenizer.TYPE_BYTE) continue;
        Integer id = lookup.get(t.piece(tokens.get(i)) + t.piece(tokens.get(i + 1)));
        if (id != null && t.score(id) > best) {
          best = t.score(id);
          bestIdx = i;
          bestId = id;
        }
      }
      if (bestIdx < 0) break;
      tokens.set(bestIdx, bestId);
      tokens.remove(bestIdx + 1);
    }
    return tokens.stream().mapToInt(Integer::intValue).toArray();
  }
}
