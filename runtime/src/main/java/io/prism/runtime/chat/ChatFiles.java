package io.prism.runtime.chat;

import io.prism.runtime.format.ModelFormatException;
import io.prism.runtime.model.GgufReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Checks, before a model is registered, that its tokenizer and chat files can serve chat, so that a
 * model that would fail every chat request is refused at once (HTTP 400 from {@code POST
 * /admin/models}) and nothing is half-registered:
 *
 * <ul>
 *   <li>a Hugging Face folder must have {@code tokenizer.json};
 *   <li>its config files must parse ({@link ChatFormat#fromDirectory}; a GGUF's chat keys, {@link
 *       ChatFormat#fromGguf});
 *   <li>every chat template must render a probe conversation (one user message {@code "Hello"},
 *       {@code add_generation_prompt} true, no tools) without raising.
 * </ul>
 *
 * <p>Other sources ({@code .bin}, {@code random:NAME}) have nothing to check here. Stateless;
 * reads files (call it off actor threads).
 */
public final class ChatFiles {
  private static final ChatInput PROBE = new ChatInput("[{\"role\":\"user\",\"content\":\"Hello\"}]", true);

  private ChatFiles() {}

  /**
   * @param source a model path as registered (folder or file)
   * @throws IllegalArgumentException naming the folder and the missing file, or the malformed config
   *     file
   * @throws ChatTemplateException naming the template and the line when a template raises on the
   *     probe conversation or does not parse
   */
  public static void check(Path source) {
    ChatFormat f;
    if (Files.isDirectory(source)) {
      if (!Files.isRegularFile(source.resolve("tokenizer.json"))) {
        throw new IllegalArgumentException("model folder " + source + " has no tokenizer.json: a Hugging Face folder needs its tokenizer "
            + "(tokenizer.json, and tokenizer_config.json for the chat template) beside config.json and the safetensors");
      }
      try {
        f = ChatFormat.fromDirectory(source);
      } catch (ModelFormatException e) {
        throw new IllegalArgumentException(e.getMessage(), e);
      }
    } else if (Files.isRegularFile(source) && source.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".gguf")) {
      try {
        f = ChatFormat.fromGguf(GgufReader.read(source));
      } catch (ModelFormatException e) {
        throw new IllegalArgumentException(e.getMessage(), e);
      }
    } else {
      return;
    }
    probe(f);
  }

  /** Renders the probe conversation with every template of {@code f}. */
  static void probe(ChatFormat f) {
    for (String name : f.templateNames()) f.render(PROBE, name);
  }
}
