package io.prism.runtime.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.model.GgufReader;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Chat keys of GGUF files (llama.cpp's names) on small files written here with only metadata (GGUF
 * v3 layout: magic, version, tensor and key counts, then typed key/value pairs, little-endian).
 */
class GgufChatFormatTest {
  @TempDir Path dir;

  private static final String CHATML = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
      + "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

  /** A GGUF v3 file with no tensors and {@code meta} (String, Long as uint32, Boolean, String[] values). */
  static Path write(Path file, Map<String, Object> meta) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write("GGUF".getBytes(StandardCharsets.US_ASCII));
    out.write(le(4).putInt(3).array());
    out.write(le(8).putLong(0).array());
    out.write(le(8).putLong(meta.size()).array());
    for (Map.Entry<String, Object> e : meta.entrySet()) {
      string(out, e.getKey());
      Object v = e.getValue();
      if (v instanceof String s) {
        out.write(le(4).putInt(8).array());
        string(out, s);
      } else if (v instanceof Long l) {
        out.write(le(4).putInt(4).array());
        out.write(le(4).putInt(l.intValue()).array());
      } else if (v instanceof Boolean b) {
        out.write(le(4).putInt(7).array());
        out.write(b ? 1 : 0);
      } else if (v instanceof String[] a) {
        out.write(le(4).putInt(9).array());
        out.write(le(4).putInt(8).array());
        out.write(le(8).putLong(a.length).array());
        for (String s : a) string(out, s);
      } else {
        throw new IllegalArgumentException(String.valueOf(v));
      }
    }
    Files.write(file, out.toByteArray());
    return file;
  }

  private static ByteBuffer le(int n) {
    return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
  }

  private static void string(ByteArrayOutputStream out, String s) throws Exception {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    out.write(le(8).putLong(b.length).array());
    out.write(b);
  }

  private Map<String, Object> vocab() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("general.architecture", "qwen2");
    m.put("tokenizer.ggml.tokens", new String[] {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "a"});
    m.put("tokenizer.ggml.bos_token_id", 0L);
    m.put("tokenizer.ggml.eos_token_id", 0L);
    m.put("tokenizer.ggml.eot_token_id", 2L);
    m.put("tokenizer.ggml.add_bos_token", false);
    return m;
  }

  @Test
  void readsTemplatesSpecialTextsBosRuleAndStopIds() throws Exception {
    Map<String, Object> m = vocab();
    m.put("tokenizer.chat_template", CHATML);
    m.put("tokenizer.chat_template.tool_use", "TOOLS{{ tools|length }}");
    ChatFormat f = ChatFormat.fromGguf(GgufReader.read(write(dir.resolve("m.gguf"), m)));
    assertEquals(List.of("default", "tool_use"), f.templateNames());
    assertEquals("<|endoftext|>", f.bosToken());
    assertFalse(f.addBosToken());
    assertEquals(List.of(0, 2), f.stopIds());
    assertEquals(List.of("<|im_end|>"), f.stopTexts());
    ChatInput hi = new ChatInput("[{\"role\":\"user\",\"content\":\"Hi\"}]", true);
    assertEquals("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", f.render(hi));
    assertEquals("TOOLS1", f.render(new ChatInput(hi.messagesJson(), "[{\"type\":\"function\"}]", null, true, null)));
    assertTrue(f.template(false).name().contains("m.gguf"), f.template(false).name());
  }

  @Test
  void registrationRefusesAGgufWhoseTemplateRaises() throws Exception {
    Map<String, Object> m = vocab();
    m.put("tokenizer.chat_template", "{%- if messages[0].role != 'system' %}\n{{- raise_exception('a system message is required') }}\n{%- endif %}");
    Path file = write(dir.resolve("bad.gguf"), m);
    ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> ChatFiles.check(file));
    assertEquals(2, e.line());
    assertEquals("chat template 'default' of bad.gguf (tokenizer.chat_template), line 2: a system message is required", e.getMessage());
  }
}
