package io.prism.runtime.chat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.prism.runtime.format.Json;
import io.prism.runtime.tokenizer.HuggingFaceJsonTokenizer;
import io.prism.runtime.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Prism's chat prompts equal Hugging Face's, token for token: every conversation of {@code
 * chat/reference-tokens.json} (written by {@code runtime/src/test/node/reference.mjs} with
 * {@code @huggingface/jinja} and {@code @lenml/tokenizers}) rendered with the real Qwen3 and
 * DeepSeek-V3 tokenizer folders of the shared data ({@code ../shared/tokenizers}, skipped when absent).
 */
class ChatTemplateReferenceTest {

  static Path sharedTokenizers() {
    for (String p : List.of("../shared/tokenizers", "../../shared/tokenizers")) {
      if (Files.isDirectory(Path.of(p))) return Path.of(p);
    }
    return null;
  }

  @SuppressWarnings("unchecked")
  static Stream<Arguments> cases() throws IOException {
    Map<String, Object> ref;
    try (InputStream in = ChatTemplateReferenceTest.class.getResourceAsStream("/chat/reference-tokens.json")) {
      ref = (Map<String, Object>) Json.parse(new String(in.readAllBytes(), StandardCharsets.UTF_8));
    }
    List<Arguments> out = new ArrayList<>();
    ((Map<String, Object>) ref.get("tokenizers")).forEach((tokenizer, list) -> {
      for (Object c : (List<Object>) list) out.add(Arguments.of(tokenizer, ((Map<String, Object>) c).get("name"), c));
    });
    return out.stream();
  }

  private static final Map<String, Tokenizer> LOADED = new java.util.concurrent.ConcurrentHashMap<>();

  static Tokenizer tokenizer(String name) {
    Path shared = sharedTokenizers();
    assumeTrue(shared != null, "../shared/tokenizers is absent: the reference comparison needs the real tokenizer files");
    return LOADED.computeIfAbsent(name, n -> {
      Path dir = shared.resolve(n);
      return ChatTokenizer.withChatFormat(HuggingFaceJsonTokenizer.fromFile(dir.resolve("tokenizer.json"), -1), dir.toString());
    });
  }

  /**
   * The messages as the HTTP layer hands them to the template ({@code RequestParser.chatInput}, as
   * vLLM's chat parsing): a null or absent {@code content} becomes {@code ""}. The reference script
   * applies the same rule, so the official clients' assistant tool-call message (content null) is
   * compared too, where Python's Jinja would raise on {@code str + None}.
   */
  static List<Map<String, Object>> asServed(List<Map<String, Object>> messages) {
    List<Map<String, Object>> out = new ArrayList<>();
    for (Map<String, Object> m : messages) {
      Map<String, Object> copy = new java.util.LinkedHashMap<>(m);
      if (copy.get("content") == null) copy.put("content", "");
      out.add(copy);
    }
    return out;
  }

  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("cases")
  @SuppressWarnings("unchecked")
  void tokensEqualHuggingFaceReference(String tokenizerName, String name, Map<String, Object> c) {
    Tokenizer t = tokenizer(tokenizerName);
    assertTrue(t instanceof ChatTokenizer ct && ct.format().hasTemplate(), "the shared folder has a chat template");
    ChatInput in = new ChatInput(PythonJson.dumps(asServed((List<Map<String, Object>>) c.get("messages")), -1), c.get("tools") == null ? null : PythonJson.dumps(c.get("tools"), -1), null,
        (Boolean) c.get("add_generation_prompt"), PythonJson.dumps(c.get("variables"), -1));
    assertFalse(c.containsKey("error"), () -> "the reference raised: " + c.get("error"));
    String text = ChatTokenizer.renderChat(t, in);
    assertEquals(c.get("text"), text, "rendered prompt");
    List<Object> ids = (List<Object>) c.get("ids");
    int[] want = ids.stream().mapToInt(o -> ((Number) o).intValue()).toArray();
    assertArrayEquals(want, ChatTokenizer.encodeChat(t, in), "prompt tokens");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("tokenizerNames")
  void stopTokensIncludeEndOfTurnAndEos(String name) {
    ChatTokenizer t = (ChatTokenizer) tokenizer(name);
    String endOfTurn = name.equals("qwen3") ? "<|im_end|>" : "<｜end▁of▁sentence｜>";
    int id = ChatTokenizer.singleId(t, endOfTurn);
    assertTrue(id >= 0, endOfTurn + " is one token");
    assertTrue(t.isStopToken(id));
    assertTrue(t.isStopToken(t.eosId()));
    assertFalse(t.isStopToken(ChatTokenizer.singleId(t, "Hello")));
    assertNotNull(t.format().eosToken());
  }

  static Stream<String> tokenizerNames() {
    return Stream.of("qwen3", "deepseek-v3");
  }
}
