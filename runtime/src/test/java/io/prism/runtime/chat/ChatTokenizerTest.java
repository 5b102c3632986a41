package io.prism.runtime.chat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.prism.runtime.model.ModelLoader;
import io.prism.runtime.model.SharedModels;
import io.prism.runtime.tokenizer.HuggingFaceJsonTokenizer;
import io.prism.runtime.tokenizer.SentencePieceTokenizer;
import io.prism.runtime.tokenizer.StreamingDetokenizer;
import io.prism.runtime.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Chat formats of model folders: BOS as Hugging Face (never doubled), stop tokens from the config
 * files and the template, named templates, models without a template, registration checks, and
 * streaming byte-level detokenisation that never splits a UTF-8 character.
 */
class ChatTokenizerTest {
  @TempDir Path dir;

  private static Path shared(String name) {
    Path p = ChatTemplateReferenceTest.sharedTokenizers();
    assumeTrue(p != null, "../shared/tokenizers is absent");
    return p.resolve(name);
  }

  /** A folder with {@code name}'s tokenizer.json (copied) and the given tokenizer_config.json text. */
  private Path folder(String name, String tokenizerConfig) throws IOException {
    Path d = Files.createDirectories(dir.resolve(name + "-copy"));
    Files.copy(shared(name).resolve("tokenizer.json"), d.resolve("tokenizer.json"));
    Files.writeString(d.resolve("tokenizer_config.json"), tokenizerConfig, StandardCharsets.UTF_8);
    return d;
  }

  private static ChatTokenizer load(Path d) {
    Tokenizer t = ChatTokenizer.withChatFormat(HuggingFaceJsonTokenizer.fromFile(d.resolve("tokenizer.json"), -1), d.toString());
    assertTrue(t instanceof ChatTokenizer, "has a chat format");
    return (ChatTokenizer) t;
  }

  private static final ChatInput HI = new ChatInput("[{\"role\":\"user\",\"content\":\"Hi\"}]", true);

  @Test
  void bosIsAddedOnceWhenTheConfigAddsItAndTheTemplateDoesNotWriteIt() throws IOException {
    String bos = "<｜begin▁of▁sentence｜>";
    ChatTokenizer without = load(folder("deepseek-v3", "{\"add_bos_token\": true, \"bos_token\": \"" + bos + "\", \"eos_token\": \"<｜end▁of▁sentence｜>\","
        + " \"chat_template\": \"{% for m in messages %}<｜User｜>{{ m.content }}{% endfor %}<｜Assistant｜>\"}"));
    int[] a = without.encodeChat(HI);
    assertEquals(without.bosId(), a[0]);
    assertTrue(a[1] != without.bosId());
    ChatTokenizer with = load(shared("deepseek-v3"));
    int[] b = with.encodeChat(HI);
    assertEquals(with.bosId(), b[0]);
    assertTrue(b[1] != with.bosId(), "the template's BOS is not doubled");
    assertArrayEquals(a, b);
  }

  @Test
  void stopTokensComeFromGenerationConfigConfigAndTheTemplate() throws IOException {
    Path d = folder("qwen3", "{\"eos_token\": \"<|endoftext|>\", \"chat_template\": \"{% for m in messages %}<|im_start|>{{ m.role }}\\n{{ m.content }}<|im_end|>\\n{% endfor %}\"}");
    Files.writeString(d.resolve("generation_config.json"), "{\"eos_token_id\": [151645, 151643], \"bos_token_id\": 151643}");
    Files.writeString(d.resolve("config.json"), "{\"eos_token_id\": 151643, \"tie_word_embeddings\": false}");
    ChatTokenizer t = load(d);
    assertArrayEquals(new int[] {151643, 151645}, t.stopIds());
    Files.writeString(d.resolve("generation_config.json"), "{\"eos_token_id\": 151643}");
    ChatTokenizer fromTemplate = load(d);
    assertTrue(fromTemplate.isStopToken(151645), "<|im_end|> is written by the template");
    assertFalse(fromTemplate.isStopToken(151644), "<|im_start|> is not an end of turn");
  }

  @Test
  void namedTemplatesPickToolUseWithToolsElseDefault() throws IOException {
    ChatTokenizer t = load(folder("qwen3", "{\"chat_template\": [{\"name\": \"default\", \"template\": \"D{{ messages|length }}\"},"
        + " {\"name\": \"tool_use\", \"template\": \"T{{ tools|length }}\"}]}"));
    assertEquals("D1", ChatTokenizer.renderChat(t, HI));
    assertEquals("T2", ChatTokenizer.renderChat(t, new ChatInput(HI.messagesJson(), "[{\"type\":\"function\"},{\"type\":\"function\"}]", null, true, null)));
    assertEquals("D1", ChatTokenizer.renderChat(t, new ChatInput(HI.messagesJson(), "[]", null, true, null)), "an empty tools list is no tools");
  }

  @Test
  void modelsWithoutATemplateJoinContentsWithNewlinesAfterBos() {
    Optional<Path> models = SharedModels.dir();
    assumeTrue(models.isPresent(), "../shared/models is absent");
    Tokenizer t = ModelLoader.loadConfigOnly(models.get().resolve("stories260K.bin").toString(), null).tokenizer();
    Tokenizer same = ChatTokenizer.withChatFormat(t, models.get().resolve("stories260K.bin").toString());
    assertSame(t, same, "nothing to add");
    ChatInput two = new ChatInput("[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":null},{\"role\":\"user\",\"content\":\"Once\"}]", true);
    assertEquals("Be brief.\n\nOnce", ChatTokenizer.renderChat(t, two));
    assertArrayEquals(t.encode("Be brief.\n\nOnce", true, false), ChatTokenizer.encodeChat(t, two));
  }

  @Test
  void ggufWithoutChatKeysHasNoTemplate() {
    Optional<Path> models = SharedModels.dir();
    assumeTrue(models.isPresent() && Files.isRegularFile(models.get().resolve("stories260K.gguf")), "stories260K.gguf is absent");
    ChatFormat f = ChatFormat.fromGguf(io.prism.runtime.model.GgufReader.read(models.get().resolve("stories260K.gguf")));
    assertFalse(f.hasTemplate());
    assertTrue(f.addBosToken(), "llama.cpp's default");
    assertEquals("<s>", f.bosToken());
    ChatFiles.check(models.get().resolve("stories260K.gguf"));
  }

  @Test
  void registrationRefusesAFolderWithoutTokenizerJsonAndATemplateThatRaises() throws IOException {
    Path empty = Files.createDirectories(dir.resolve("no-tokenizer"));
    Files.writeString(empty.resolve("config.json"), "{}");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ChatFiles.check(empty));
    assertTrue(e.getMessage().contains("has no tokenizer.json"), e.getMessage());
    Path raising = folder("qwen3", "{\"chat_template\": \"{{ raise_exception('broken template') }}\"}");
    ChatTemplateException t = assertThrows(ChatTemplateException.class, () -> ChatFiles.check(raising));
    assertEquals("broken template", t.reason());
    assertEquals(1, t.line());
    assertTrue(t.template().contains("tokenizer_config.json"), t.template());
    ChatFiles.check(shared("qwen3"));
    ChatFiles.check(shared("deepseek-v3"));
  }

  @Test
  void streamingByteLevelDetokenisationNeverSplitsACharacter() {
    Tokenizer t = load(shared("qwen3"));
    String text = "你好，世界！ 👋🏽🚀 naïve café — “quotes” ☕ 日本語 🇫🇷";
    int[] ids = t.encode(text, false, false);
    StreamingDetokenizer d = new StreamingDetokenizer(t, -1);
    StringBuilder all = new StringBuilder();
    int held = 0;
    for (int id : ids) {
      String chunk = d.next(id);
      assertFalse(chunk.contains("\uFFFD"), "chunk " + chunk + " splits a character");
      if (chunk.isEmpty()) held++;
      if (!chunk.isEmpty()) assertFalse(Character.isHighSurrogate(chunk.charAt(chunk.length() - 1)), "ends inside a surrogate pair");
      all.append(chunk);
    }
    all.append(d.flush());
    assertEquals(text, all.toString());
    assertTrue(held > 0, "some tokens end inside a character (byte-level BPE), so the test exercises holding back");
  }

  @Test
  void sentencePieceTokenizersAreUntouchedWithoutChatFiles() {
    SentencePieceTokenizer sp = io.prism.runtime.model.RandomModels.syntheticTokenizer(400);
    assertSame(sp, ChatTokenizer.withChatFormat(sp, "random:stories260K"));
  }

  @Test
  void decodeWithSpecialTokensWritesThemAndOrdinaryDecodeDoesNot() {
    Optional<Path> models = SharedModels.dir();
    assumeTrue(models.isPresent(), "../shared/models is absent");
    Tokenizer sp = ModelLoader.loadConfigOnly(models.get().resolve("stories260K.bin").toString(), null).tokenizer();
    int[] ids = sp.encode("Once upon a time", true, false);
    assertEquals("Once upon a time", sp.decode(ids));
    assertEquals(sp.specialTokenText(sp.bosId()) + "Once upon a time", sp.decodeWithSpecialTokens(ids));
    Tokenizer qwen = load(shared("qwen3"));
    int[] q = qwen.encode("<|im_start|>user\n你好 👋🏽<|im_end|>", false, false);
    assertEquals("user\n你好 👋🏽", qwen.decode(q));
    assertEquals("<|im_start|>user\n你好 👋🏽<|im_end|>", qwen.decodeWithSpecialTokens(q));
  }

  @Test
  void aSentencePieceVocabularyKeepsTheTemplatesBosWholeAndAddsNoSecond() throws IOException {
    Optional<Path> models = SharedModels.dir();
    assumeTrue(models.isPresent() && Files.isRegularFile(models.get().resolve("stories260K.gguf")), "stories260K.gguf is absent");
    Tokenizer sp = ModelLoader.loadConfigOnly(models.get().resolve("stories260K.gguf").toString(), null).tokenizer();
    assertEquals("<s>", sp.specialTokenText(sp.bosId()));
    Path d = Files.createDirectories(dir.resolve("llama2-style"));
    Files.writeString(d.resolve("tokenizer_config.json"), "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"add_bos_token\": true,"
        + " \"chat_template\": \"{{ bos_token }}[INST] {{ messages[0]['content'] }} [/INST]{{ eos_token }}\"}");
    ChatTokenizer t = new ChatTokenizer(sp, ChatFormat.fromDirectory(d));
    int[] got = t.encodeChat(new ChatInput("[{\"role\":\"user\",\"content\":\"Once upon a time\"}]", true));
    int[] middle = sp.encode("[INST] Once upon a time [/INST]", false, false);
    int[] want = new int[middle.length + 2];
    want[0] = sp.bosId();
    System.arraycopy(middle, 0, want, 1, middle.length);
    want[want.length - 1] = sp.eosId();
    assertArrayEquals(want, got);
  }
}
