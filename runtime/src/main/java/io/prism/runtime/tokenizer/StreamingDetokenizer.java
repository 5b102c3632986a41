package io.prism.runtime.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Turns a stream of token ids into text chunks that never split a UTF-8 character: bytes of an
 * incomplete character (e.g. the first of three byte-fallback tokens {@code <0xE2><0x80><0x99>})
 * are held back until the character completes. Invalid sequences are emitted as U+FFFD once it is
 * clear they cannot complete. Not thread-safe: one instance per sequence.
 */
public final class StreamingDetokenizer {
  private final Tokenizer tokenizer;
  private final ByteArrayOutputStream pending = new ByteArrayOutputStream();
  private int previousId;

  /**
   * @param tokenizer vocabulary
   * @param previousId the token before the first one passed to {@link #next} (BOS for a fresh
   *     sequence, or the last prompt token when streaming a continuation)
   */
  public StreamingDetokenizer(Tokenizer tokenizer, int previousId) {
    this.tokenizer = tokenizer;
    this.previousId = previousId;
  }

  /** Adds token {@code id}; returns the text that is now complete (possibly empty). */
  public String next(int id) {
    byte[] b = tokenizer.decodeBytes(previousId, id);
    previousId = id;
    pending.writeBytes(b);
    byte[] all = pending.toByteArray();
    int complete = completePrefix(all);
    if (complete == 0) return "";
    pending.reset();
    pending.write(all, complete, all.length - complete);
    return new String(all, 0, complete, StandardCharsets.UTF_8);
  }

  /** Emits whatever is held back (an incomplete trailing character becomes U+FFFD). */
  public String flush() {
    byte[] all = pending.toByteArray();
    pending.reset();
    return new String(all, StandardCharsets.UTF_8);
  }

  /** Length of the longest prefix that does not end inside a possibly-incomplete UTF-8 character. */
  static int completePrefix(byte[] b) {
    int n = b.length;
    // Look back at most 3 bytes for the lead byte of the last character.
    for (int back = 1; back <= Math.min(4, n); back++) {
      int c = b[n - back] & 0xFF;
      if ((c & 0xC0) == 0x80) continue; // continuation byte: keep looking for the lead
      int need = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
      return back >= need ? n : n - back;
    }
    return n; // only continuation bytes: invalid, emit as replacement characters
  }
}
