package io.prism.http.openai;

import java.util.List;

/**
 * Renders chat messages into a prompt for models that carry no chat template of their own (the
 * llama2.c {@code stories} checkpoints; GGUF chat templates are not executed by Prism yet).
 *
 * <p>The template: the messages' contents in order, joined by a single newline; roles are
 * dropped and nothing is added. So a chat request with one user message {@code "Once upon a
 * time"} gives exactly the prompt {@code "Once upon a time"}, and a story model continues it as a
 * completion would. The engine adds BOS before the rendered text.
 */
public final class ChatTemplate {
  /**
   * One chat message.
   *
   * @param role {@code system}, {@code developer}, {@code user}, {@code assistant} or {@code tool}
   * @param content its text (text parts concatenated)
   */
  public record Message(String role, String content) {}

  private ChatTemplate() {}

  /** The prompt for {@code messages} (at least one). */
  public static String render(List<Message> messages) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < messages.size(); i++) {
      if (i > 0) sb.append('\n');
      sb.append(messages.get(i).content());
    }
    return sb.toString();
  }
}
