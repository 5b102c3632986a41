package io.prism.runtime.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * GPT-2's byte-level alphabet (also used by Llama 3, Qwen, Mistral Nemo ...; Hugging Face {@code
 * ByteLevel} pre-tokenizer and decoder): each of the 256 byte values is written as one printable
 * character. Bytes {@code '!'..'~'}, {@code U+00A1..U+00AC} and {@code U+00AE..U+00FF} stand for
 * themselves; the other 68 bytes, in increasing order, become {@code U+0100, U+0101, ...} (so a
 * space is {@code Ġ} U+0120 and a newline {@code Ċ} U+010A). Source: the {@code bytes_to_unicode}
 * function of OpenAI's GPT-2 encoder. Immutable; any thread.
 */
final class ByteLevelAlphabet {
  /** char value to byte value, -1 where the char is not in the alphabet. */
  private static final int[] BYTE_OF_CHAR = new int[512];

  static {
    java.util.Arrays.fill(BYTE_OF_CHAR, -1);
    int next = 256;
    for (int b = 0; b < 256; b++) {
      boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      BYTE_OF_CHAR[printable ? b : next++] = b;
    }
  }

  private ByteLevelAlphabet() {}

  /**
   * The raw bytes that byte-level token text {@code token} stands for, or null when a character
   * of it is outside the alphabet (then the token is not byte-level encoded, e.g. an added token).
   */
  static byte[] decode(String token) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(token.length());
    for (int i = 0; i < token.length(); i++) {
      char c = token.charAt(i);
      int b = c < BYTE_OF_CHAR.length ? BYTE_OF_CHAR[c] : -1;
      if (b < 0) return null;
      out.write(b);
    }
    return out.toByteArray();
  }

  /** The UTF-8 bytes of {@code token} unchanged (for tokens outside the alphabet). */
  static byte[] utf8(String token) {
    return token.getBytes(StandardCharsets.UTF_8);
  }
}
