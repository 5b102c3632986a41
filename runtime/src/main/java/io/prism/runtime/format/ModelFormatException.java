package io.prism.runtime.format;

/**
 * A model or tokenizer file that cannot be used: truncated, wrong magic, unsupported version or
 * tensor type, or a tensor of the wrong size. The message names the file, the field and the expected
 * versus found value, e.g. {@code "stories.bin: header field dim: expected > 0, found -3"}.
 */
public class ModelFormatException extends RuntimeException {
  /** @param message names the file, the field, and expected versus found */
  public ModelFormatException(String message) {
    super(message);
  }

  /**
   * @param message names the file, the field, and expected versus found
   * @param cause the underlying I/O or parse failure
   */
  public ModelFormatException(String message, Throwable cause) {
    super(message, cause);
  }
}
