package io.prism.runtime.tokenizer;

import io.prism.runtime.format.ModelFormatException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;

/**
 * Parser of llama2.c tokenizer files ({@code tokenizer.bin}, {@code tok512.bin}), the format
 * written by llama2.c's {@code tokenizer.py export()}:
 *
 * <pre>
 * int32 max_token_length
 * repeated until end of file, once per token id 0, 1, 2, ...:
 *   float32 score, int32 len, len bytes of UTF-8 piece (no terminator; spaces as ' ')
 * </pre>
 *
 * All little-endian. The vocabulary size is not stored: it is the number of entries, and the last
 * entry must end exactly at the end of the file. Stateless and thread-safe.
 */
public final class Llama2cTokenizerFile {
  /** Files larger than this are never treated as tokenizers when probing (checkpoints are larger). */
  public static final long MAX_PROBE_BYTES = 64L << 20;

  private Llama2cTokenizerFile() {}

  /**
   * A parsed file.
   *
   * @param maxTokenLength the header's longest-piece length in bytes
   * @param pieces piece bytes by id
   * @param scores merge scores by id
   */
  public record Contents(int maxTokenLength, byte[][] pieces, float[] scores) {}

  /**
   * Parses {@code file}.
   *
   * @throws ModelFormatException naming the file, the entry and field, and expected versus found,
   *     when the file is truncated or an entry is malformed
   * @throws UncheckedIOException when the file cannot be read
   */
  public static Contents read(Path file) {
    byte[] all;
    try {
      all = Files.readAllBytes(file);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    }
    String name = file.getFileName().toString();
    ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
    if (b.remaining() < 4) throw new ModelFormatException(name + ": header max_token_length: expected 4 bytes, found " + b.remaining());
    int maxLen = b.getInt();
    if (maxLen <= 0 || maxLen > 1 << 16) {
      throw new ModelFormatException(name + ": header max_token_length: expected 1.." + (1 << 16) + ", found " + maxLen);
    }
    List<byte[]> pieces = new ArrayList<>();
    List<Float> scores = new ArrayList<>();
    while (b.hasRemaining()) {
      int id = pieces.size();
      if (b.remaining() < 8) {
        throw new ModelFormatException(name + ": token " + id + " score and len: expected 8 bytes, found " + b.remaining() + " (truncated file)");
      }
      float score = b.getFloat();
      int len = b.getInt();
      if (len < 0 || len > maxLen) {
        throw new ModelFormatException(name + ": token " + id + " len: expected 0.." + maxLen + " (max_token_length), found " + len);
      }
      if (b.remaining() < len) {
        throw new ModelFormatException(name + ": token " + id + " piece: expected " + len + " bytes, found " + b.remaining() + " (truncated file)");
      }
      byte[] p = new byte[len];
      b.get(p);
      pieces.add(p);
      scores.add(score);
    }
    if (pieces.isEmpty()) throw new ModelFormatException(name + ": tokens: expected at least 1, found 0");
    float[] s = new float[scores.size()];
    for (int i = 0; i < s.length; i++) s[i] = scores.get(i);
    return new Contents(maxLen, pieces.toArray(new byte[0][]), s);
  }

  /**
   * The number of entries when {@code file} parses as a llama2.c tokenizer file no larger than
   * {@link #MAX_PROBE_BYTES}, else empty. Never throws for format problems.
   */
  public static OptionalInt probeVocabSize(Path file) {
    try {
      if (!Files.isRegularFile(file) || Files.size(file) > MAX_PROBE_BYTES) return OptionalInt.empty();
      return OptionalInt.of(read(file).pieces().length);
    } catch (IOException | UncheckedIOException | ModelFormatException e) {
      return OptionalInt.empty();
    }
  }
}
