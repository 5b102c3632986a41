package io.prism.runtime.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.format.ModelFormatException;
import io.prism.runtime.model.SafetensorsLoader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Tiny tokenizer.json files (byte-level BPE, SentencePiece-style BPE) written per test. */
class HuggingFaceJsonTokenizerTest {
  @TempDir Path dir;

  /** GPT-2 bytes_to_unicode, written out independently of ByteLevelAlphabet. */
  private static String byteChar(int b) {
    int n = 0;
    for (int x = 0; x < 256; x++) {
      boolean printable = (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255);
      if (x == b) return String.valueOf((char) (printable ? x : 256 + n));
      if (!printable) n++;
    }
    throw new AssertionError();
  }

  private static String q(String s) {
    StringBuilder sb = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      if (c == '"' || c == '\\') sb.append('\\').append(c);
      else if (c < 0x20 || c > 0x7e) sb.append(String.format("\\u%04x", (int) c));
      else sb.append(c);
    }
    return sb.append('"').toString();
  }

  private static String vocabJson(Map<String, Integer> vocab) {
    List<String> parts = new ArrayList<>();
    vocab.forEach((k, v) -> parts.add(q(k) + ":" + v));
    return "{" + String.join(",", parts) + "}";
  }

  private static String mergesJson(List<String> merges) {
    return "[" + String.join(",", merges.stream().map(HuggingFaceJsonTokenizerTest::q).toList()) + "]";
  }

  private static String addedJson(Map<String, Integer> added) {
    List<String> parts = new ArrayList<>();
    added.forEach((k, v) -> parts.add("{\"id\":" + v + ",\"content\":" + q(k)
        + ",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true}"));
    return "[" + String.join(",", parts) + "]";
  }

  /** Byte-level BPE: all 256 byte chars, merges h+e, l+l, he+ll, Ġ+w; specials at the end. */
  private Map<String, Integer> byteLevelVocab;

  private Path writeByteLevel() throws IOException {
    Map<String, Integer> v = new LinkedHashMap<>();
    for (int b = 0; b < 256; b++) v.put(byteChar(b), b);
    List<String> merges = List.of("h e", "l l", "he ll", byteChar(' ') + " w");
    for (String m : merges) v.put(m.replace(" ", ""), v.size());
    Map<String, Integer> added = new LinkedHashMap<>();
    added.put("<|begin_of_text|>", v.size());
    added.put("<|end_of_text|>", v.size() + 1);
    byteLevelVocab = new LinkedHashMap<>(v);
    byteLevelVocab.putAll(added);
    String json = "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":" + addedJson(added)
        + ",\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true}"
        + ",\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true}"
        + ",\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,\"continuing_subword_prefix\":null,\"end_of_word_suffix\":null,"
        + "\"fuse_unk\":false,\"byte_fallback\":false,\"vocab\":" + vocabJson(v) + ",\"merges\":" + mergesJson(merges) + "}}";
    Path f = dir.resolve("tokenizer.json");
    Files.writeString(f, json, StandardCharsets.UTF_8);
    return f;
  }

  /** SentencePiece-style BPE (Llama 2 layout): <unk> <s> </s>, 256 byte tokens, ▁ h i ▁h ▁hi. */
  private Map<String, Integer> spVocab;

  private Path writeSentencePiece(Path where) throws IOException {
    Map<String, Integer> v = new LinkedHashMap<>();
    v.put("<unk>", 0);
    v.put("<s>", 1);
    v.put("</s>", 2);
    for (int b = 0; b < 256; b++) v.put(String.format("<0x%02X>", b), v.size());
    List<String> merges = List.of("\u2581 h", "\u2581h i");
    for (String s : List.of("\u2581", "h", "i", "\u2581h", "\u2581hi")) v.put(s, v.size());
    spVocab = v;
    Map<String, Integer> added = new LinkedHashMap<>();
    added.put("<unk>", 0);
    added.put("<s>", 1);
    added.put("</s>", 2);
    String json = "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":" + addedJson(added)
        + ",\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":\"\u2581\"},"
        + "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\u2581\"}]},\"pre_tokenizer\":null,\"post_processor\":null"
        + ",\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":\"\u2581\"},\"content\":\" \"},"
        + "{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":0}]}"
        + ",\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":\"<unk>\",\"continuing_subword_prefix\":null,\"end_of_word_suffix\":null,"
        + "\"fuse_unk\":true,\"byte_fallback\":true,\"vocab\":" + vocabJson(v) + ",\"merges\":" + mergesJson(merges) + "}}";
    Files.createDirectories(where);
    Path f = where.resolve("tokenizer.json");
    Files.writeString(f, json, StandardCharsets.UTF_8);
    return f;
  }

  private static String stream(Tokenizer t, int[] ids, int first) {
    StreamingDetokenizer d = new StreamingDetokenizer(t, first);
    StringBuilder sb = new StringBuilder();
    for (int id : ids) sb.append(d.next(id));
    return sb.append(d.flush()).toString();
  }

  @Test
  void byteLevelEncodesWithMergesAndByteFallbackChars() throws IOException {
    HuggingFaceJsonTokenizer t = HuggingFaceJsonTokenizer.fromFile(writeByteLevel(), -1);
    assertEquals(byteLevelVocab.size(), t.vocabSize());
    int[] ids = t.encode("hello world", false, false);
    List<String> expected = List.of("hell", "o", byteChar(' ') + "w", "o", "r", "l", "d");
    assertArrayEquals(expected.stream().mapToInt(byteLevelVocab::get).toArray(), ids);
  }

  @Test
  void byteLevelRoundTripsUtf8ThroughStreamingDetokenizer() throws IOException {
    HuggingFaceJsonTokenizer t = HuggingFaceJsonTokenizer.fromFile(writeByteLevel(), -1);
    String text = "héllo wörld ✓ 🙂\nnew line";
    int[] ids = t.encode(text, true, true);
    assertEquals(t.bosId(), ids[0]);
    assertEquals(t.eosId(), ids[ids.length - 1]);
    assertEquals(text, stream(t, java.util.Arrays.copyOfRange(ids, 1, ids.length), ids[0]));
    assertEquals(text, t.decode(java.util.Arrays.copyOfRange(ids, 1, ids.length - 1)));
    // the 4 bytes of the emoji are 4 tokens, each a fragment
    int[] emoji = t.encode("🙂", false, false);
    assertEquals(4, emoji.length);
    assertEquals(1, t.decodeBytes(-1, emoji[0]).length);
  }

  @Test
  void bosAndEosFromCommonNamesAndSpecialTokensDecodeToNothing() throws IOException {
    HuggingFaceJsonTokenizer t = HuggingFaceJsonTokenizer.fromFile(writeByteLevel(), -1);
    assertEquals(byteLevelVocab.get("<|begin_of_text|>"), t.bosId());
    assertEquals(byteLevelVocab.get("<|end_of_text|>"), t.eosId());
    assertEquals(0, t.decodeBytes(-1, t.eosId()).length);
    assertArrayEquals(new int[] {t.bosId()}, t.encode("", true, false));
  }

  @Test
  void tokenizerConfigChoosesBosAndEos() throws IOException {
    Path f = writeByteLevel();
    Files.writeString(dir.resolve("tokenizer_config.json"),
        "{\"bos_token\":{\"content\":\"<|end_of_text|>\"},\"eos_token\":\"<|begin_of_text|>\"}");
    HuggingFaceJsonTokenizer t = HuggingFaceJsonTokenizer.fromFile(f, -1);
    assertEquals(byteLevelVocab.get("<|end_of_text|>"), t.bosId());
    assertEquals(byteLevelVocab.get("<|begin_of_text|>"), t.eosId());
  }

  @Test
  void sentencePieceStyleUsesMetaspaceByteFallbackAndDropsDummyPrefix() throws IOException {
    HuggingFaceJsonTokenizer t = HuggingFaceJsonTokenizer.fromFile(writeSentencePiece(dir), -1);
    assertEquals(1, t.bosId());
    assertEquals(2, t.eosId());
    int[] ids = t.encode("hi ✓", true, false);
    int[] expected = {1, spVocab.get("\u2581hi"), spVocab.get("\u2581"), spVocab.get("<0xE2>"), spVocab.get("<0x9C>"), spVocab.get("<0x93>")};
    assertArrayEquals(expected, ids);
    assertEquals("hi ✓", stream(t, java.util.Arrays.copyOfRange(ids, 1, ids.length), 1));
    assertArrayEquals(" hi".getBytes(StandardCharsets.UTF_8), t.decodeBytes(spVocab.get("h"), spVocab.get("\u2581hi")));
  }

  @Test
  void vocabSizeIsPaddedToTheModelsAndCheckedAgainstIt() throws IOException {
    Path f = writeSentencePiece(dir);
    HuggingFaceJsonTokenizer t = HuggingFaceJsonTokenizer.fromFile(f, spVocab.size() + 10);
    assertEquals(spVocab.size() + 10, t.vocabSize());
    assertEquals(0, t.decodeBytes(1, spVocab.size() + 5).length);
    assertThrows(IllegalArgumentException.class, () -> t.decodeBytes(1, spVocab.size() + 10));
    assertThrows(IllegalArgumentException.class, () -> HuggingFaceJsonTokenizer.fromFile(f, spVocab.size() - 1));
  }

  @Test
  void malformedFileIsAFormatErrorNamingTheFile() throws IOException {
    Path f = dir.resolve("tokenizer.json");
    Files.writeString(f, "{\"model\": {\"type\": \"BPE\", \"vocab\": ");
    ModelFormatException e = assertThrows(ModelFormatException.class, () -> HuggingFaceJsonTokenizer.fromFile(f, -1));
    assertTrue(e.getMessage().contains(f.toString()), e.getMessage());
    Files.writeString(f, "{\"model\": {\"type\": \"NoSuchModel\", \"vocab\": {\"a\": 0}}}");
    ModelFormatException e2 = assertThrows(ModelFormatException.class, () -> HuggingFaceJsonTokenizer.fromFile(f, -1));
    assertTrue(e2.getMessage().contains(f.toString()), e2.getMessage());
    assertThrows(IllegalArgumentException.class, () -> HuggingFaceJsonTokenizer.fromFile(dir.resolve("absent.json"), -1));
  }

  @Test
  void safetensorsDirectoryUsesTokenizerJsonWhenPresent() throws IOException {
    Path model = dir.resolve("model");
    Files.createDirectories(model);
    assertNull(SafetensorsLoader.tokenizer(model, 300));
    writeSentencePiece(model);
    Tokenizer t = SafetensorsLoader.tokenizer(model, 300);
    assertTrue(t instanceof HuggingFaceJsonTokenizer);
    assertEquals(300, t.vocabSize());
  }
}
