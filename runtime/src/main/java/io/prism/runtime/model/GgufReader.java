package io.prism.runtime.model;

import io.prism.runtime.format.ModelFormatException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Parses the header of a GGUF file (versions 2 and 3; the format of llama.cpp's {@code gguf.h},
 * described in ggml's {@code docs/gguf.md}):
 *
 * <pre>
 * "GGUF" magic, uint32 version, uint64 tensor_count, uint64 kv_count
 * kv_count x   { string key, uint32 value_type, value }
 * tensor_count x { string name, uint32 n_dims, uint64 dims[n_dims] (innermost first),
 *                  uint32 ggml_type, uint64 offset (relative to the data section) }
 * padding to general.alignment (default 32), then the data section
 * string = uint64 length + UTF-8 bytes; array = uint32 element type + uint64 count + elements
 * </pre>
 *
 * All little-endian. Metadata values become Java objects: uint8/int8/uint16/int16/int32 {@code
 * Integer}, uint32/int64/uint64 {@code Long} (uint64 above 2^63 wraps), float32 {@code Float},
 * float64 {@code Double}, bool {@code Boolean}, string {@code String}; arrays become {@code int[]}
 * (int32 and narrower), {@code long[]} (uint32, 64-bit), {@code float[]}, {@code double[]},
 * {@code boolean[]}, {@code String[]}, or {@code Object[]} (arrays of arrays).
 *
 * <p>Only the header is read; tensor data stays in the file ({@link GgufLoader} reads it). Every
 * count and length is checked against the bytes left in the file before anything is allocated, so
 * a corrupt header fails with a {@link ModelFormatException} rather than running out of memory.
 * Stateless and thread-safe.
 */
public final class GgufReader {
  /** "GGUF" as the first four bytes. */
  static final byte[] MAGIC = {'G', 'G', 'U', 'F'};
  /** Alignment of the data section and of every tensor when {@code general.alignment} is absent. */
  public static final int DEFAULT_ALIGNMENT = 32;
  private static final int MAX_DIMS = 4;

  private GgufReader() {}

  /**
   * One tensor's description.
   *
   * @param name e.g. {@code blk.0.attn_q.weight}
   * @param dims extents, innermost (contiguous) first, as ggml's {@code ne}
   * @param typeId the {@code ggml_type} value ({@link GgmlType#fromId})
   * @param fileOffset absolute byte offset of the data in the file
   */
  public record TensorInfo(String name, long[] dims, int typeId, long fileOffset) {
    /** Product of the dims. */
    public long elementCount() {
      long n = 1;
      for (long d : dims) n *= d;
      return n;
    }

    /** Dims as {@code [a, b]}, innermost first. */
    public String shape() {
      return Arrays.toString(dims);
    }
  }

  /**
   * A parsed header.
   *
   * @param path the file
   * @param version GGUF version (2 or 3)
   * @param metadata key to value, in file order
   * @param tensors tensor name to info, in file order
   * @param alignment {@code general.alignment} or 32
   * @param dataOffset absolute offset of the data section
   * @param fileBytes file size
   */
  public record GgufFile(
      Path path, int version, Map<String, Object> metadata, Map<String, TensorInfo> tensors, int alignment, long dataOffset, long fileBytes) {

    /** File name for messages. */
    public String fileName() {
      return path.getFileName().toString();
    }

    /** Whether metadata {@code key} is present. */
    public boolean has(String key) {
      return metadata.containsKey(key);
    }

    /**
     * An integer metadata value.
     *
     * @throws ModelFormatException when missing and {@code defaultValue} is null, or not an integer
     */
    public long getLong(String key, Long defaultValue) {
      Object v = metadata.get(key);
      if (v == null) {
        if (defaultValue == null) throw new ModelFormatException(fileName() + ": metadata " + key + ": expected an integer, found nothing (key missing)");
        return defaultValue;
      }
      if (v instanceof Integer i) return i;
      if (v instanceof Long l) return l;
      throw new ModelFormatException(fileName() + ": metadata " + key + ": expected an integer, found " + v.getClass().getSimpleName() + " " + v);
    }

    /** A positive int metadata value; see {@link #getLong}. */
    public int getPositiveInt(String key, Integer defaultValue) {
      long v = getLong(key, defaultValue == null ? null : (long) defaultValue);
      if (v <= 0 || v > Integer.MAX_VALUE) throw new ModelFormatException(fileName() + ": metadata " + key + ": expected 1.." + Integer.MAX_VALUE + ", found " + v);
      return (int) v;
    }

    /** A floating-point metadata value (float32 or float64); see {@link #getLong}. */
    public double getDouble(String key, Double defaultValue) {
      Object v = metadata.get(key);
      if (v == null) {
        if (defaultValue == null) throw new ModelFormatException(fileName() + ": metadata " + key + ": expected a number, found nothing (key missing)");
        return defaultValue;
      }
      if (v instanceof Number n) return n.doubleValue();
      throw new ModelFormatException(fileName() + ": metadata " + key + ": expected a number, found " + v.getClass().getSimpleName() + " " + v);
    }

    /** A string metadata value, or {@code null} when absent. */
    public String getString(String key) {
      Object v = metadata.get(key);
      if (v == null) return null;
      if (v instanceof String s) return s;
      throw new ModelFormatException(fileName() + ": metadata " + key + ": expected a string, found " + v.getClass().getSimpleName());
    }
  }

  /**
   * Reads the header of {@code file}.
   *
   * @throws ModelFormatException naming the file, the field and expected versus found, for a wrong
   *     magic, an unsupported version, a truncated header, a bad value type or alignment, or a
   *     tensor whose data lies outside the file
   * @throws UncheckedIOException when the file cannot be read
   */
  public static GgufFile read(Path file) {
    String name = file.getFileName().toString();
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      Input in = new Input(ch, name);
      byte[] magic = in.bytes(4, "magic");
      if (!Arrays.equals(magic, MAGIC)) {
        throw new ModelFormatException(name + ": magic: expected \"GGUF\", found " + printable(magic));
      }
      int version = in.u32("version");
      if (version != 2 && version != 3) {
        throw new ModelFormatException(name + ": version: expected 3 (or 2), found " + Integer.toUnsignedString(version));
      }
      long tensorCount = in.u64("tensor_count");
      long kvCount = in.u64("kv_count");
      in.checkCount(tensorCount, 8 + 4 + 4 + 8, "tensor_count");
      in.checkCount(kvCount, 8 + 4, "kv_count");
      Map<String, Object> meta = new LinkedHashMap<>();
      for (long i = 0; i < kvCount; i++) {
        String key = in.string("metadata key #" + i);
        int type = in.u32("metadata " + key + " value type");
        meta.put(key, in.value(type, "metadata " + key));
      }
      int alignment = DEFAULT_ALIGNMENT;
      Object a = meta.get("general.alignment");
      if (a != null) {
        long al = a instanceof Integer ai ? ai : a instanceof Long l ? l : -1;
        if (al <= 0 || al > 1 << 20 || (al & (al - 1)) != 0) {
          throw new ModelFormatException(name + ": metadata general.alignment: expected a power of two, found " + a);
        }
        alignment = (int) al;
      }
      Map<String, TensorInfo> raw = new LinkedHashMap<>();
      for (int t = 0; t < tensorCount; t++) {
        String tname = in.string("tensor #" + t + " name");
        int nDims = in.u32("tensor " + tname + " n_dims");
        if (nDims < 1 || nDims > MAX_DIMS) throw new ModelFormatException(name + ": tensor " + tname + " n_dims: expected 1.." + MAX_DIMS + ", found " + nDims);
        long[] dims = new long[nDims];
        for (int d = 0; d < nDims; d++) {
          dims[d] = in.u64("tensor " + tname + " dims[" + d + "]");
          if (dims[d] <= 0 || dims[d] > Integer.MAX_VALUE) {
            throw new ModelFormatException(name + ": tensor " + tname + " dims[" + d + "]: expected 1.." + Integer.MAX_VALUE + ", found " + dims[d]);
          }
        }
        int type = in.u32("tensor " + tname + " type");
        long offset = in.u64("tensor " + tname + " offset");
        if (raw.put(tname, new TensorInfo(tname, dims, type, offset)) != null) {
          throw new ModelFormatException(name + ": tensor " + tname + ": expected a unique name, found it twice");
        }
      }
      long dataOffset = align(in.position(), alignment);
      Map<String, TensorInfo> tensors = new LinkedHashMap<>();
      for (TensorInfo t : raw.values()) {
        if (t.fileOffset() % alignment != 0) {
          throw new ModelFormatException(name + ": tensor " + t.name() + " offset: expected a multiple of " + alignment + ", found " + t.fileOffset());
        }
        TensorInfo abs = new TensorInfo(t.name(), t.dims(), t.typeId(), dataOffset + t.fileOffset());
        GgmlType gt = GgmlType.fromId(t.typeId());
        if (gt != null && t.elementCount() % gt.blockElements == 0) {
          long end = abs.fileOffset() + gt.bytesFor(t.elementCount());
          if (end > in.size) {
            throw new ModelFormatException(name + ": tensor " + t.name() + " data: expected bytes up to offset " + end + ", found a file of " + in.size + " bytes (truncated file)");
          }
        }
        tensors.put(t.name(), abs);
      }
      return new GgufFile(file, version, Collections.unmodifiableMap(meta), Collections.unmodifiableMap(tensors), alignment, dataOffset, in.size);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    }
  }

  /** Whether {@code file} starts with the GGUF magic (no further checks; never throws). */
  public static boolean hasMagic(Path file) {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      ByteBuffer b = ByteBuffer.allocate(4);
      while (b.hasRemaining() && ch.read(b) >= 0) {}
      return !b.hasRemaining() && Arrays.equals(b.array(), MAGIC);
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }

  static long align(long offset, int alignment) {
    return (offset + alignment - 1) / alignment * alignment;
  }

  private static String printable(byte[] b) {
    StringBuilder sb = new StringBuilder("0x");
    for (byte x : b) sb.append(String.format("%02X", x & 0xFF));
    return sb.toString();
  }

  /** Buffered little-endian reader over a channel that tracks its position and the bytes left. */
  private static final class Input {
    private final FileChannel ch;
    private final String name;
    private final long size;
    private final ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
    private long bufStart; // file offset of buf[0]

    Input(FileChannel ch, String name) throws IOException {
      this.ch = ch;
      this.name = name;
      this.size = ch.size();
      buf.limit(0);
    }

    long position() {
      return bufStart + buf.position();
    }

    private void need(int n, String what) throws IOException {
      if (buf.remaining() >= n) return;
      if (position() + n > size) {
        throw new ModelFormatException(name + ": " + what + ": expected " + n + " bytes at offset " + position() + ", found " + (size - position()) + " (truncated file)");
      }
      long pos = position();
      buf.compact();
      bufStart = pos - buf.position();
      while (buf.position() < n) {
        if (ch.read(buf, bufStart + buf.position()) < 0) throw new ModelFormatException(name + ": " + what + ": unexpected end of file");
      }
      buf.flip();
    }

    void checkCount(long count, long minBytesEach, String what) {
      long left = size - position();
      if (count < 0 || (minBytesEach > 0 && count > left / minBytesEach)) {
        throw new ModelFormatException(name + ": " + what + ": expected at most " + left / Math.max(1, minBytesEach) + " for a file of " + size + " bytes, found " + Long.toUnsignedString(count));
      }
    }

    byte[] bytes(int n, String what) throws IOException {
      byte[] out = new byte[n];
      int done = 0;
      while (done < n) {
        int chunk = Math.min(n - done, buf.capacity());
        need(chunk, what);
        buf.get(out, done, chunk);
        done += chunk;
      }
      return out;
    }

    int u32(String what) throws IOException {
      need(4, what);
      return buf.getInt();
    }

    long u64(String what) throws IOException {
      need(8, what);
      return buf.getLong();
    }

    String string(String what) throws IOException {
      long len = u64(what + " length");
      if (len < 0 || len > size - position()) {
        throw new ModelFormatException(name + ": " + what + " length: expected at most " + (size - position()) + ", found " + Long.toUnsignedString(len) + " (truncated or corrupt)");
      }
      return new String(bytes((int) len, what), StandardCharsets.UTF_8);
    }

    Object value(int type, String what) throws IOException {
      switch (type) {
        case 0: need(1, what); return buf.get() & 0xFF;
        case 1: need(1, what); return (int) buf.get();
        case 2: need(2, what); return buf.getShort() & 0xFFFF;
        case 3: need(2, what); return (int) buf.getShort();
        case 4: return Integer.toUnsignedLong(u32(what));
        case 5: return u32(what);
        case 6: need(4, what); return buf.getFloat();
        case 7: need(1, what); return buf.get() != 0;
        case 8: return string(what);
        case 9: return array(what);
        case 10: case 11: return u64(what);
        case 12: need(8, what); return buf.getDouble();
        default: throw new ModelFormatException(name + ": " + what + " value type: expected 0..12, found " + Integer.toUnsignedString(type));
      }
    }

    private Object array(String what) throws IOException {
      int et = u32(what + " element type");
      long count = u64(what + " count");
      int minBytes = switch (et) {
        case 0, 1, 7 -> 1;
        case 2, 3 -> 2;
        case 4, 5, 6 -> 4;
        case 8, 10, 11, 12 -> 8;
        case 9 -> 12;
        default -> throw new ModelFormatException(name + ": " + what + " element type: expected 0..12, found " + Integer.toUnsignedString(et));
      };
      checkCount(count, minBytes, what + " count");
      int n = (int) count;
      switch (et) {
        case 0: case 1: case 2: case 3: case 5: {
          int[] a = new int[n];
          for (int i = 0; i < n; i++) a[i] = (Integer) value(et, what);
          return a;
        }
        case 4: case 10: case 11: {
          long[] a = new long[n];
          for (int i = 0; i < n; i++) a[i] = (Long) value(et, what);
          return a;
        }
        case 6: {
          float[] a = new float[n];
          for (int i = 0; i < n; i++) {
            need(4, what);
            a[i] = buf.getFloat();
          }
          return a;
        }
        case 12: {
          double[] a = new double[n];
          for (int i = 0; i < n; i++) a[i] = (Double) value(et, what);
          return a;
        }
        case 7: {
          boolean[] a = new boolean[n];
          for (int i = 0; i < n; i++) a[i] = (Boolean) value(et, what);
          return a;
        }
        case 8: {
          String[] a = new String[n];
          for (int i = 0; i < n; i++) a[i] = string(what + "[" + i + "]");
          return a;
        }
        default: {
          Object[] a = new Object[n];
          for (int i = 0; i < n; i++) a[i] = array(what + "[" + i + "]");
          return a;
        }
      }
    }
  }
}
