package io.prism.runtime.model;

/**
 * Tensor element types of ggml as stored in a GGUF tensor info ({@code enum ggml_type} in llama.cpp's
 * {@code ggml.h}). {@link #F32}, {@link #F16}, {@link #BF16}, {@link #Q8_0}, {@link #Q4_0}, {@link
 * #Q4_K}, {@link #Q5_K} and {@link #Q6_K} can be loaded ({@link #loadable()}; block layouts in
 * {@link GgmlQuants}); the others are named so that an error can say which type a file uses.
 */
public enum GgmlType {
  F32(0, 1, 4),
  F16(1, 1, 2),
  Q4_0(2, 32, 18),
  Q4_1(3, 32, 20),
  Q5_0(6, 32, 22),
  Q5_1(7, 32, 24),
  /** Blocks of 32: float16 scale {@code d}, then 32 int8 quants; value = d * q. */
  Q8_0(8, 32, 34),
  Q8_1(9, 32, 36),
  Q2_K(10, 256, 84),
  Q3_K(11, 256, 110),
  Q4_K(12, 256, 144),
  Q5_K(13, 256, 176),
  Q6_K(14, 256, 210),
  Q8_K(15, 256, 292),
  IQ2_XXS(16, 256, 66),
  IQ2_XS(17, 256, 74),
  IQ3_XXS(18, 256, 98),
  IQ1_S(19, 256, 50),
  IQ4_NL(20, 32, 18),
  IQ3_S(21, 256, 110),
  IQ2_S(22, 256, 82),
  IQ4_XS(23, 256, 136),
  I8(24, 1, 1),
  I16(25, 1, 2),
  I32(26, 1, 4),
  I64(27, 1, 8),
  F64(28, 1, 8),
  IQ1_M(29, 256, 56),
  BF16(30, 1, 2),
  TQ1_0(34, 256, 54),
  TQ2_0(35, 256, 66),
  MXFP4(39, 32, 17);

  /** The {@code ggml_type} value in the file. */
  public final int id;
  /** Elements per quantisation block (1 for plain types). */
  public final int blockElements;
  /** Bytes per block. */
  public final int blockBytes;

  GgmlType(int id, int blockElements, int blockBytes) {
    this.id = id;
    this.blockElements = blockElements;
    this.blockBytes = blockBytes;
  }

  /** The type with file value {@code id}, or {@code null} when unknown. */
  public static GgmlType fromId(int id) {
    for (GgmlType t : values()) if (t.id == id) return t;
    return null;
  }

  /** A readable name of file value {@code id}: the enum name, or {@code "type id N"}. */
  public static String nameOf(int id) {
    GgmlType t = fromId(id);
    return t != null ? t.name() : "type id " + id;
  }

  /** Whether {@link GgufLoader} can dequantise this type to float32. */
  public boolean loadable() {
    return this == F32 || this == F16 || this == BF16 || GgmlQuants.supported(this);
  }

  /** The names of the loadable types, comma-separated (for error messages). */
  public static String loadableNames() {
    return java.util.Arrays.stream(values()).filter(GgmlType::loadable).map(Enum::name).collect(java.util.stream.Collectors.joining(", "));
  }

  /** Bytes of {@code elements} values ({@code elements} a multiple of {@link #blockElements}). */
  public long bytesFor(long elements) {
    return elements / blockElements * blockBytes;
  }

  MappedFile.Encoding encoding() {
    return switch (this) {
      case F32 -> MappedFile.Encoding.F32;
      case F16 -> MappedFile.Encoding.F16;
      case BF16 -> MappedFile.Encoding.BF16;
      case Q8_0 -> MappedFile.Encoding.Q8_0;
      case Q4_0 -> MappedFile.Encoding.Q4_0;
      case Q4_K -> MappedFile.Encoding.Q4_K;
      case Q5_K -> MappedFile.Encoding.Q5_K;
      case Q6_K -> MappedFile.Encoding.Q6_K;
      default -> throw new IllegalStateException(this + " is not loadable");
    };
  }
}
