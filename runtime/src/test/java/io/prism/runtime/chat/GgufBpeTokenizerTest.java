package io.prism.runtime.chat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.prism.runtime.format.Json;
import io.prism.runtime.format.ModelFormatException;
import io.prism.runtime.tokenizer.GgufBpeTokenizer;
import io.prism.runtime.tokenizer.HuggingFaceJsonTokenizer;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/**
 * A GGUF byte-level BPE vocabulary (the arrays llama.cpp's converter writes: tokens, token types,
 * merges, pre-tokenizer name) encodes exactly as the Hugging Face tokenizer it came from: the arrays
 * are built here from the shared Qwen3 and DeepSeek-V3 {@code tokenizer.json} files, and every
 * rendered reference conversation must give the reference ids.
 */
class GgufBpeTokenizerTest {
  @SuppressWarnings("unchecked")
  @ParameterizedTest
  @CsvSource({"qwen3,qwen2", "deepseek-v3,deepseek-v3"})
  void encodesTheReferenceConversationsAsTheHuggingFaceTokenizer(String name, String pre) throws Exception {
    Path shared = ChatTemplateReferenceTest.sharedTokenizers();
    assumeTrue(shared != null, "../shared/tokenizers is absent");
    Map<String, Object> root = (Map<String, Object>) Json.parse(Files.readString(shared.resolve(name).resolve("tokenizer.json")));
    Map<String, Object> model = (Map<String, Object>) root.get("model");
    Map<String, Object> vocab = (Map<String, Object>) model.get("vocab");
    List<Object> added = (List<Object>) root.get("added_tokens");
    int size = 0;
    for (Object v : vocab.values()) size = Math.max(size, ((Number) v).intValue() + 1);
    for (Object a : added) size = Math.max(size, ((Number) ((Map<String, Object>) a).get("id")).intValue() + 1);
    String[] tokens = new String[size];
    int[] types = new int[size];
    java.util.Arrays.fill(tokens, "[PAD]");
    java.util.Arrays.fill(types, 5); // unused
    vocab.forEach((t, id) -> {
      tokens[((Number) id).intValue()] = t;
      types[((Number) id).intValue()] = 1;
    });
    for (Object o : added) {
      Map<String, Object> a = (Map<String, Object>) o;
      int id = ((Number) a.get("id")).intValue();
      tokens[id] = (String) a.get("content");
      types[id] = Boolean.TRUE.equals(a.get("special")) ? 3 : 4;
    }
    List<Object> ms = (List<Object>) model.get("merges");
    String[] merges = new String[ms.size()];
    for (int i = 0; i < merges.length; i++) merges[i] = ms.get(i) instanceof List<?> l ? l.get(0) + " " + l.get(1) : (String) ms.get(i);
    HuggingFaceJsonTokenizer t = GgufBpeTokenizer.fromGgufVocab(name + ".gguf", tokens, types, merges, pre, -1, -1, size);

    Map<String, Object> ref;
    try (InputStream in = getClass().getResourceAsStream("/chat/reference-tokens.json")) {
      ref = (Map<String, Object>) Json.parse(new String(in.readAllBytes(), StandardCharsets.UTF_8));
    }
    int checked = 0;
    for (Object o : (List<Object>) ((Map<String, Object>) ref.get("tokenizers")).get(name)) {
      Map<String, Object> c = (Map<String, Object>) o;
      if (!c.containsKey("ids")) continue;
      int[] want = ((List<Object>) c.get("ids")).stream().mapToInt(x -> ((Number) x).intValue()).toArray();
      assertArrayEquals(want, t.encode((String) c.get("text"), false, false), (String) c.get("name"));
      checked++;
    }
    assertTrue(checked >= 10);
    assertEquals("你好 👋🏽", t.decode(t.encode("你好 👋🏽", false, false)));
  }

  @Test
  void anUnknownPreTokenizerNamesTheSupportedOnes() {
    ModelFormatException e = assertThrows(ModelFormatException.class,
        () -> GgufBpeTokenizer.fromGgufVocab("x.gguf", new String[] {"a", "b"}, null, new String[0], "tekken", -1, -1, 2));
    assertTrue(e.getMessage().contains("tekken") && e.getMessage().contains("qwen2"), e.getMessage());
  }
}
