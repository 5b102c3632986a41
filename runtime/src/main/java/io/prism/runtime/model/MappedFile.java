package io.prism.runtime.model;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.stream.IntStream;

/**
 * Read-only, little-endian, memory-mapped access to a weight file of any size, decoding tensor data
 * into float32 arrays.
 *
 * <p>A {@link MappedByteBuffer} covers at most 2 GiB, so every read maps the byte range it needs in
 * windows of at most {@link #WINDOW_BYTES} and splits the window into slices that are decoded in
 * parallel on the common fork-join pool (parallel weight loading, as in the Prism paper's activation
 * path). float32 data is a bulk copy ({@code FloatBuffer.get}); F16, BF16 and Q8_0 are dequantised.
 *
 * <p>Thread-safe: every read maps its own buffer. The mapping is released when the buffer is
 * garbage-collected; {@link #close()} closes the channel.
 */
final class MappedFile implements AutoCloseable {
  /** Largest window mapped at once; a multiple of every block size used here (4, 2, 34). */
  static final long WINDOW_BYTES = 34L * 4 * (1 << 23); // 1.06 GiB
  /** Elements decoded by one parallel task. */
  private static final int SLICE_ELEMENTS = 1 << 20;

  private static final float[] HALF_TO_FLOAT = buildHalfTable();

  final Path path;
  final long sizeBytes;
  private final FileChannel channel;
  private final long windowBytes;

  private MappedFile(Path path, FileChannel channel, long sizeBytes, long windowBytes) {
    this.path = path;
    this.channel = channel;
    this.sizeBytes = sizeBytes;
    this.windowBytes = windowBytes;
  }

  /**
   * Opens {@code path} for reading.
   *
   * @throws UncheckedIOException if the file cannot be opened
   */
  static MappedFile open(Path path) {
    return open(path, WINDOW_BYTES);
  }

  /** As {@link #open(Path)} with windows of {@code windowBytes} (a multiple of 68; tests use small ones). */
  static MappedFile open(Path path, long windowBytes) {
    if (windowBytes <= 0 || windowBytes % 68 != 0 || windowBytes > WINDOW_BYTES) {
      throw new IllegalArgumentException("windowBytes must be a positive multiple of 68 up to " + WINDOW_BYTES + ", got " + windowBytes);
    }
    try {
      FileChannel ch = FileChannel.open(path, StandardOpenOption.READ);
      return new MappedFile(path, ch, ch.size(), windowBytes);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot open " + path, e);
    }
  }

  @Override
  public void close() {
    try {
      channel.close();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Maps {@code [offset, offset + length)} little-endian; {@code length <= Integer.MAX_VALUE}. */
  ByteBuffer map(long offset, long length) {
    try {
      MappedByteBuffer b = channel.map(FileChannel.MapMode.READ_ONLY, offset, length);
      return b.order(ByteOrder.LITTLE_ENDIAN);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot map " + path + " at " + offset + " (+" + length + " bytes)", e);
    }
  }

  /** Element encodings this class decodes to float32. */
  enum Encoding {
    F32(1, 4),
    F16(1, 2),
    BF16(1, 2),
    /** ggml Q8_0: blocks of 32 values, a float16 scale then 32 int8 quants (34 bytes). */
    Q8_0(32, 34),
    /** ggml Q4_0, Q4_K, Q5_K, Q6_K: see {@link GgmlQuants}; decoded by {@link QuantKernels}. */
    Q4_0(32, 18),
    Q4_K(256, 144),
    Q5_K(256, 176),
    Q6_K(256, 210);

    final int blockElements;
    final int blockBytes;

    Encoding(int blockElements, int blockBytes) {
      this.blockElements = blockElements;
      this.blockBytes = blockBytes;
    }

    /** Bytes that {@code elements} values occupy ({@code elements} a multiple of the block size). */
    long bytesFor(long elements) {
      return elements / blockElements * blockBytes;
    }
  }

  /**
   * Decodes {@code count} values stored with {@code enc} at byte {@code offset} into {@code
   * dst[dstOffset .. dstOffset + count)}. The caller has checked that the range lies in the file and
   * that {@code count} is a multiple of the encoding's block size.
   */
  void read(Encoding enc, long offset, float[] dst, int dstOffset, int count) {
    long elementsPerWindow = windowBytes / enc.blockBytes * enc.blockElements;
    long done = 0;
    while (done < count) {
      int n = (int) Math.min(elementsPerWindow, count - done);
      ByteBuffer window = map(offset + enc.bytesFor(done), enc.bytesFor(n));
      int base = dstOffset + (int) done;
      int slices = (n + SLICE_ELEMENTS - 1) / SLICE_ELEMENTS;
      IntStream range = IntStream.range(0, slices);
      if (slices > 1) range = range.parallel();
      range.forEach(
          s -> {
            int from = s * SLICE_ELEMENTS;
            int len = Math.min(SLICE_ELEMENTS, n - from);
            ByteBuffer slice = window.slice((int) enc.bytesFor(from), (int) enc.bytesFor(len)).order(ByteOrder.LITTLE_ENDIAN);
            decode(enc, slice, dst, base + from, len);
          });
      done += n;
    }
  }

  private static void decode(Encoding enc, ByteBuffer src, float[] dst, int off, int len) {
    switch (enc) {
      case F32 -> src.asFloatBuffer().get(dst, off, len);
      case F16 -> {
        short[] tmp = new short[len];
        src.asShortBuffer().get(tmp);
        for (int i = 0; i < len; i++) dst[off + i] = HALF_TO_FLOAT[tmp[i] & 0xFFFF];
      }
      case BF16 -> {
        short[] tmp = new short[len];
        src.asShortBuffer().get(tmp);
        for (int i = 0; i < len; i++) dst[off + i] = Float.intBitsToFloat((tmp[i] & 0xFFFF) << 16);
      }
      case Q8_0 -> {
        byte[] tmp = new byte[src.remaining()];
        src.get(tmp);
        int blocks = len / 32;
        for (int b = 0; b < blocks; b++) {
          int p = b * 34;
          float scale = HALF_TO_FLOAT[(tmp[p] & 0xFF) | (tmp[p + 1] & 0xFF) << 8];
          int o = off + b * 32;
          for (int i = 0; i < 32; i++) dst[o + i] = scale * tmp[p + 2 + i];
        }
      }
      default -> {
        byte[] tmp = new byte[src.remaining()];
        src.get(tmp);
        QuantKernels.dequantize(GgmlType.valueOf(enc.name()), tmp, 0, dst, off, len);
      }
    }
  }

  /** IEEE 754 binary16 to float32 (exact; Java 17 has no {@code Float.float16ToFloat}). */
  static float halfToFloat(int bits) {
    return HALF_TO_FLOAT[bits & 0xFFFF];
  }

  private static float[] buildHalfTable() {
    float[] t = new float[1 << 16];
    for (int h = 0; h < t.length; h++) {
      int sign = (h >>> 15) & 1;
      int exp = (h >>> 10) & 0x1F;
      int mant = h & 0x3FF;
      float v;
      if (exp == 0) {
        v = mant * 0x1p-24f; // subnormal: mant * 2^-14 * 2^-10
      } else if (exp == 31) {
        v = mant == 0 ? Float.POSITIVE_INFINITY : Float.NaN;
      } else {
        v = Float.intBitsToFloat((exp - 15 + 127) << 23 | mant << 13);
      }
      t[h] = sign == 1 ? -v : v;
    }
    return t;
  }
}
