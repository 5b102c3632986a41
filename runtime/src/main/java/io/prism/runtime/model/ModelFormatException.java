package io.prism.runtime.model;

/**
 * A model or tokenizer file that cannot be used: truncated, wrong magic, unsupported version or
 * tensor type, or a tensor of the wrong size. The message names the file, the field and the expected
 * versus found value, e.g. {@code "stories.bin: header field dim: expected > 0, found -3"}.
 */
public class ModelFormatException extends RuntimeException {
  public ModelFormatException(String message) {
    super(message);
  }

  public ModelFormatException(String message, Throwable cause) {
    super(message, cause);
  }
}
