package io.prism.runtime.model;

import io.prism.runtime.format.ModelFormatException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Optional;

/**
 * Reads llama2.c "version 0" (legacy) checkpoints: the format of karpathy/llama2.c's {@code
 * run.c} and of the tinyllamas {@code stories*.bin} files.
 *
 * <pre>
 * offset 0   int32 x 7   dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
 *                        (vocab_size &lt; 0: the classifier is stored separately, |vocab_size| tokens)
 * offset 28  float32     token_embedding [vocab, dim]
 *                        rms_att         [L, dim]
 *                        wq              [L, dim, dim]
 *                        wk, wv          [L, kvDim, dim] each
 *                        wo              [L, dim, dim]
 *                        rms_ffn         [L, dim]
 *                        w1              [L, hidden, dim]
 *                        w2              [L, dim, hidden]
 *                        w3              [L, hidden, dim]
 *                        rms_final       [dim]
 *                        freq_cis_real, freq_cis_imag  [seq_len, headDim / 2] each (skipped)
 *                        wcls            [vocab, dim]   only when unshared
 * </pre>
 *
 * All values little-endian. The file size is fully determined by the header, so a truncated file,
 * trailing bytes and a header that does not describe the file are all caught before any weight is
 * read. RoPE theta is 10000 and the RMSNorm epsilon 1e-5 (hard-coded in {@code run.c}); the
 * rotary pairs are adjacent elements {@code (2i, 2i+1)} of each head.
 *
 * <p>Version 1 and 2 exports (magic {@code "ak42"}) are rejected with a message saying so.
 * Stateless and thread-safe.
 */
public final class Llama2cLoader {
  /** Bytes of the 7 int32 header fields. */
  public static final int HEADER_BYTES = 28;
  /** llama2.c's version-1/2 export magic, {@code "ak42"} read as a little-endian int32. */
  private static final int EXPORT_MAGIC = 0x616b3432;
  private static final String[] FIELDS = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};

  private Llama2cLoader() {}

  /**
   * Reads and validates the header and the file size.
   *
   * @param file a llama2.c version-0 checkpoint
   * @return its shape, named after the file stem; rope theta 10000, eps 1e-5
   * @throws ModelFormatException naming the file, the field, and expected versus found, when the
   *     header is invalid or the file size does not match it
   * @throws UncheckedIOException when the file cannot be read
   */
  public static ModelConfig readConfig(Path file) {
    long size = fileSize(file);
    String name = file.getFileName().toString();
    if (size < HEADER_BYTES) {
      throw new ModelFormatException(name + ": header: expected at least " + HEADER_BYTES + " bytes, found " + size + " (truncated file)");
    }
    int[] h = readHeader(file);
    if (h[0] == EXPORT_MAGIC) {
      throw new ModelFormatException(name + ": header: found magic \"ak42\" of a llama2.c version-1/2 export; only version-0 (legacy_export) checkpoints are supported");
    }
    for (int i = 0; i < h.length; i++) {
      int v = i == 5 ? Math.abs(h[i]) : h[i];
      if (v <= 0) throw new ModelFormatException(name + ": header field " + FIELDS[i] + ": expected > 0, found " + h[i]);
    }
    int dim = h[0], heads = h[3], kvHeads = h[4];
    if (dim % heads != 0) {
      throw new ModelFormatException(name + ": header field n_heads: expected a divisor of dim " + dim + ", found " + heads);
    }
    if (kvHeads > heads || heads % kvHeads != 0) {
      throw new ModelFormatException(name + ": header field n_kv_heads: expected a divisor of n_heads " + heads + ", found " + kvHeads);
    }
    if ((dim / heads) % 2 != 0) {
      throw new ModelFormatException(name + ": header field n_heads: head size dim/n_heads must be even for RoPE, found " + dim / heads);
    }
    // at most twice the exact count, computed in double so that a garbage header cannot overflow
    double roughFloats = (double) h[0] * ((double) Math.abs(h[5]) * 2 + (double) h[2] * (2.0 * h[0] + 3.0 * h[1] + 2)) + (double) h[6] * (dim / heads);
    if (roughFloats * Float.BYTES > 2.0 * size + 1e6) {
      throw new ModelFormatException(
          name + ": file size: expected about " + (long) (roughFloats * Float.BYTES) + " bytes for header " + describe(h) + ", found " + size + " (truncated file or not a checkpoint)");
    }
    ModelConfig c = new ModelConfig(stem(file), dim, h[1], h[2], heads, kvHeads, Math.abs(h[5]), h[6], 10000f, null, 1e-5f, h[5] > 0);
    long expected = expectedFileBytes(c);
    if (size != expected) {
      throw new ModelFormatException(
          name + ": file size: expected " + expected + " bytes for header " + describe(h) + ", found " + size
              + (size < expected ? " (truncated file)" : " (trailing bytes: not a version-0 checkpoint of this shape)"));
    }
    return c;
  }

  /**
   * The checkpoint's shape when {@code file} looks like a llama2.c version-0 checkpoint (a valid
   * header whose implied size equals the file size), else empty. Never throws for format problems;
   * used to tell checkpoints from tokenizer files in a directory.
   */
  public static Optional<ModelConfig> probe(Path file) {
    try {
      return Optional.of(readConfig(file));
    } catch (ModelFormatException | IllegalArgumentException | UncheckedIOException e) {
      return Optional.empty();
    }
  }

  /**
   * Loads the whole checkpoint into host float32 arrays (memory-mapped, bulk-copied, in parallel
   * slices).
   *
   * @throws ModelFormatException as {@link #readConfig}
   * @throws UncheckedIOException when the file cannot be read
   */
  public static ModelWeights load(Path file) {
    ModelConfig c = readConfig(file);
    int l = c.numLayers(), d = c.dim(), hd = c.hiddenDim(), kv = c.kvDim(), v = c.vocabSize();
    try (MappedFile f = MappedFile.open(file)) {
      long[] pos = {HEADER_BYTES};
      float[] emb = next(f, pos, (long) v * d, "token_embedding");
      float[] rmsAtt = next(f, pos, (long) l * d, "rms_att");
      float[] wq = next(f, pos, (long) l * d * d, "wq");
      float[] wk = next(f, pos, (long) l * kv * d, "wk");
      float[] wv = next(f, pos, (long) l * kv * d, "wv");
      float[] wo = next(f, pos, (long) l * d * d, "wo");
      float[] rmsFfn = next(f, pos, (long) l * d, "rms_ffn");
      float[] w1 = next(f, pos, (long) l * hd * d, "w1");
      float[] w2 = next(f, pos, (long) l * d * hd, "w2");
      float[] w3 = next(f, pos, (long) l * hd * d, "w3");
      float[] rmsFinal = next(f, pos, d, "rms_final");
      pos[0] += (long) c.maxSeqLen() * c.headDim() * Float.BYTES; // freq_cis_real + freq_cis_imag
      float[] cls = c.sharedClassifier() ? emb : next(f, pos, (long) v * d, "wcls");
      return new ModelWeights(c, emb, rmsAtt, wq, wk, wv, wo, rmsFfn, w1, w2, w3, rmsFinal, cls);
    }
  }

  /** Exact size in bytes of a version-0 checkpoint of shape {@code c}. */
  public static long expectedFileBytes(ModelConfig c) {
    long floats = c.parameterCount() + (long) c.maxSeqLen() * c.headDim();
    return HEADER_BYTES + floats * Float.BYTES;
  }

  private static float[] next(MappedFile f, long[] pos, long count, String tensor) {
    if (count > Integer.MAX_VALUE - 8) {
      throw new ModelFormatException(f.path.getFileName() + ": tensor " + tensor + ": " + count + " elements exceed a Java array");
    }
    float[] a = new float[(int) count];
    f.read(MappedFile.Encoding.F32, pos[0], a, 0, (int) count);
    pos[0] += count * Float.BYTES;
    return a;
  }

  private static int[] readHeader(Path file) {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      ByteBuffer b = ByteBuffer.allocate(HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
      while (b.hasRemaining()) {
        if (ch.read(b) < 0) throw new ModelFormatException(file.getFileName() + ": header: truncated");
      }
      b.flip();
      int[] h = new int[7];
      for (int i = 0; i < 7; i++) h[i] = b.getInt();
      return h;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    }
  }

  private static long fileSize(Path file) {
    try {
      return Files.size(file);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    }
  }

  private static String describe(int[] h) {
    StringBuilder sb = new StringBuilder("(");
    for (int i = 0; i < h.length; i++) sb.append(i == 0 ? "" : ", ").append(FIELDS[i]).append('=').append(h[i]);
    return sb.append(')').toString();
  }

  /** File name without its last extension. */
  static String stem(Path file) {
    String n = file.getFileName().toString();
    int dot = n.lastIndexOf('.');
    return dot > 0 ? n.substring(0, dot) : n;
  }
}
