package io.prism.runtime.model;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Writes small GGUF v3 files for tests (test code; written from the format description). */
final class GgufTestWriter {
  private final List<byte[]> kvs = new ArrayList<>();
  private final List<Object[]> tensors = new ArrayList<>(); // name, dims, type, data
  private int alignment = 32;
  private byte[] magic = {'G', 'G', 'U', 'F'};
  private int version = 3;

  GgufTestWriter magic(byte[] m) {
    magic = m;
    return this;
  }

  GgufTestWriter version(int v) {
    version = v;
    return this;
  }

  GgufTestWriter alignment(int a) {
    alignment = a;
    return u32("general.alignment", a);
  }

  GgufTestWriter string(String key, String value) {
    return kv(key, 8, str(value));
  }

  GgufTestWriter u32(String key, long value) {
    return kv(key, 4, le(4).putInt((int) value).array());
  }

  GgufTestWriter f32(String key, float value) {
    return kv(key, 6, le(4).putFloat(value).array());
  }

  /** Any scalar or array value: {@code type} is the GGUF value type, {@code payload} its bytes. */
  GgufTestWriter kv(String key, int type, byte[] payload) {
    ByteArrayOutputStream o = new ByteArrayOutputStream();
    o.writeBytes(str(key));
    o.writeBytes(le(4).putInt(type).array());
    o.writeBytes(payload);
    kvs.add(o.toByteArray());
    return this;
  }

  GgufTestWriter strings(String key, String[] values) {
    ByteArrayOutputStream o = new ByteArrayOutputStream();
    o.writeBytes(le(4).putInt(8).array());
    o.writeBytes(le(8).putLong(values.length).array());
    for (String v : values) o.writeBytes(str(v));
    return kv(key, 9, o.toByteArray());
  }

  GgufTestWriter floats(String key, float[] values) {
    ByteBuffer b = le(12 + 4 * values.length).putInt(6).putLong(values.length);
    for (float v : values) b.putFloat(v);
    return kv(key, 9, b.array());
  }

  GgufTestWriter ints(String key, int[] values) {
    ByteBuffer b = le(12 + 4 * values.length).putInt(5).putLong(values.length);
    for (int v : values) b.putInt(v);
    return kv(key, 9, b.array());
  }

  GgufTestWriter tensor(String name, long[] dims, int type, byte[] data) {
    tensors.add(new Object[] {name, dims, type, data});
    return this;
  }

  byte[] bytes() {
    ByteArrayOutputStream o = new ByteArrayOutputStream();
    o.writeBytes(magic);
    o.writeBytes(le(4).putInt(version).array());
    o.writeBytes(le(8).putLong(tensors.size()).array());
    o.writeBytes(le(8).putLong(kvs.size()).array());
    for (byte[] kv : kvs) o.writeBytes(kv);
    long offset = 0;
    List<Long> offsets = new ArrayList<>();
    for (Object[] t : tensors) {
      long[] dims = (long[]) t[1];
      o.writeBytes(str((String) t[0]));
      o.writeBytes(le(4).putInt(dims.length).array());
      for (long d : dims) o.writeBytes(le(8).putLong(d).array());
      o.writeBytes(le(4).putInt((Integer) t[2]).array());
      o.writeBytes(le(8).putLong(offset).array());
      offsets.add(offset);
      offset = GgufReader.align(offset + ((byte[]) t[3]).length, alignment);
    }
    pad(o);
    long dataStart = o.size();
    for (int i = 0; i < tensors.size(); i++) {
      while (o.size() < dataStart + offsets.get(i)) o.write(0);
      o.writeBytes((byte[]) tensors.get(i)[3]);
    }
    return o.toByteArray();
  }

  Path write(Path file) throws IOException {
    Files.write(file, bytes());
    return file;
  }

  private void pad(ByteArrayOutputStream o) {
    while (o.size() % alignment != 0) o.write(0);
  }

  static ByteBuffer le(int n) {
    return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
  }

  static byte[] str(String s) {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    return le(8 + b.length).putLong(b.length).put(b).array();
  }

  static byte[] f32(float[] v) {
    ByteBuffer b = le(4 * v.length);
    for (float x : v) b.putFloat(x);
    return b.array();
  }

  /** float16 bits of {@code v}, which must be zero or a normal half exactly representable. */
  static short half(float v) {
    if (v == 0f) return 0;
    int bits = Float.floatToIntBits(v);
    int sign = bits >>> 31, exp = ((bits >>> 23) & 0xFF) - 127 + 15, mant = (bits >>> 13) & 0x3FF;
    if (exp <= 0 || exp >= 31 || (bits & 0x1FFF) != 0) throw new IllegalArgumentException(v + " is not an exact normal half");
    return (short) (sign << 15 | exp << 10 | mant);
  }

  static byte[] f16(float[] v) {
    ByteBuffer b = le(2 * v.length);
    for (float x : v) b.putShort(half(x));
    return b.array();
  }

  static byte[] bf16(float[] v) {
    ByteBuffer b = le(2 * v.length);
    for (float x : v) {
      int bits = Float.floatToIntBits(x);
      if ((bits & 0xFFFF) != 0) throw new IllegalArgumentException(x + " is not an exact bfloat16");
      b.putShort((short) (bits >>> 16));
    }
    return b.array();
  }

  /** Q8_0 with the given per-block scale; values must be scale * integer in [-127, 127]. */
  static byte[] q8(float[] v, float scale) {
    ByteBuffer b = le(v.length / 32 * 34);
    for (int blk = 0; blk < v.length / 32; blk++) {
      b.putShort(half(scale));
      for (int i = 0; i < 32; i++) {
        float q = v[blk * 32 + i] / scale;
        if (q != Math.round(q) || Math.abs(q) > 127) throw new IllegalArgumentException(v[blk * 32 + i] + " is not scale * int8");
        b.put((byte) Math.round(q));
      }
    }
    return b.array();
  }
}
