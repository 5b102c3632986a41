package io.prism.runtime.chat;

/**
 * A chat template that cannot be parsed, or that failed while rendering (including a template that
 * calls {@code raise_exception(message)}, as Hugging Face templates do to refuse a conversation,
 * e.g. "Conversation roles must alternate user/assistant/user/assistant/...").
 *
 * <p>It is the client's conversation or the model's template that is at fault, never the server:
 * the HTTP layer answers 400 ({@code invalid_request_error}, {@code param: "messages"}), and model
 * registration answers 400 ({@code param: "path"}) when the template fails on a probe conversation.
 * The message names the template and the line: {@code "chat template 'default' of qwen3, line 12:
 * ..."}.
 */
public final class ChatTemplateException extends RuntimeException {
  private final String template;
  private final int line;
  private final String reason;

  /**
   * @param template the template's name and where it came from, e.g. {@code "'default' of
   *     /models/qwen3/tokenizer_config.json"}
   * @param line 1-based line of the template where it failed, or 0 when unknown
   * @param reason what failed (the {@code raise_exception} message, or the parser's or renderer's)
   * @param cause the library's exception, or null
   */
  public ChatTemplateException(String template, int line, String reason, Throwable cause) {
    super("chat template " + template + (line > 0 ? ", line " + line : "") + ": " + reason, cause);
    this.template = template;
    this.line = line;
    this.reason = reason;
  }

  /** The template's name and source, as given. */
  public String template() {
    return template;
  }

  /** 1-based line where it failed, 0 when unknown. */
  public int line() {
    return line;
  }

  /** What failed, without the template's name and line. */
  public String reason() {
    return reason;
  }
}
