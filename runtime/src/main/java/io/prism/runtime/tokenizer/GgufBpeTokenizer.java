package io.prism.runtime.tokenizer;

import io.prism.runtime.format.ModelFormatException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The byte-level BPE vocabulary of a GGUF file ({@code tokenizer.ggml.model = "gpt2"}: Llama 3,
 * Qwen2/2.5/3, DeepSeek, ...) as a {@link HuggingFaceJsonTokenizer}, so that GGUF models encode
 * through the same Rust {@code tokenizers} library as Hugging Face folders. The GGUF arrays are
 * written as an equivalent {@code tokenizer.json} (model BPE over {@code tokenizer.ggml.tokens} and
 * {@code tokenizer.ggml.merges}, every token in the vocabulary so its id is its index; tokens of type
 * control (3) or user-defined (4) also as added tokens, so they are never split; a byte-level pre-tokenizer whose split regex is chosen by {@code
 * tokenizer.ggml.pre}) in a temporary folder that is deleted once the library has read it.
 *
 * <p>Pre-tokenizers (the split regexes of the models' published {@code tokenizer.json} files, as
 * llama.cpp names them): {@code gpt2}/{@code default}/absent (GPT-2's), {@code llama-bpe}/{@code
 * llama3} (Llama 3), {@code qwen2} (Qwen2, 2.5, 3), {@code deepseek-v3} (DeepSeek-V3). Others are a
 * {@link ModelFormatException} naming the value and the supported ones.
 *
 * <p>Stateless factory; the tokenizer it returns is immutable and thread-safe.
 */
public final class GgufBpeTokenizer {
  private static final int TYPE_CONTROL = 3, TYPE_USER_DEFINED = 4;
  private static final String LLAMA3 =
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  private static final String QWEN2 =
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  private static final List<String> DEEPSEEK_V3 = List.of("\\p{N}{1,3}", "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
      "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+");
  /** Supported {@code tokenizer.ggml.pre} values. */
  public static final List<String> PRE_TOKENIZERS = List.of("gpt2", "default", "llama-bpe", "llama3", "qwen2", "deepseek-v3");

  private GgufBpeTokenizer() {}

  /**
   * From a GGUF file's metadata ({@code GgufReader.GgufFile#metadata()}): {@code
   * tokenizer.ggml.tokens}, {@code .token_type}, {@code .merges}, {@code .pre}, {@code
   * .bos_token_id}, {@code .eos_token_id}. For {@code GgufLoader} when {@code tokenizer.ggml.model}
   * is {@code "gpt2"}.
   *
   * @throws ModelFormatException naming the file and key when an array is missing or mistyped
   */
  public static HuggingFaceJsonTokenizer fromGgufMetadata(String fileName, java.util.Map<String, Object> metadata, int vocabSize) {
    if (!(metadata.get("tokenizer.ggml.tokens") instanceof String[] tokens)) {
      throw new ModelFormatException(fileName + ": metadata tokenizer.ggml.tokens: expected an array of strings");
    }
    if (!(metadata.get("tokenizer.ggml.merges") instanceof String[] merges)) {
      throw new ModelFormatException(fileName + ": metadata tokenizer.ggml.merges: expected an array of strings (a byte-level BPE vocabulary has merges)");
    }
    Object t = metadata.get("tokenizer.ggml.token_type");
    if (t != null && !(t instanceof int[])) throw new ModelFormatException(fileName + ": metadata tokenizer.ggml.token_type: expected int32 values");
    Object pre = metadata.get("tokenizer.ggml.pre");
    return fromGgufVocab(fileName, tokens, (int[]) t, merges, pre instanceof String p ? p : null, id(metadata.get("tokenizer.ggml.bos_token_id")),
        id(metadata.get("tokenizer.ggml.eos_token_id")), vocabSize);
  }

  private static int id(Object v) {
    return v instanceof Number n ? n.intValue() : -1;
  }

  /**
   * @param fileName the GGUF file's name, for messages
   * @param tokens {@code tokenizer.ggml.tokens} (byte-level alphabet text)
   * @param types {@code tokenizer.ggml.token_type}, or null (then no added tokens)
   * @param merges {@code tokenizer.ggml.merges} ({@code "a b"} each)
   * @param pre {@code tokenizer.ggml.pre}, or null
   * @param bosId BOS id, or -1 for none
   * @param eosId EOS id, or -1 for none
   * @param vocabSize the model's vocab size (at least {@code tokens.length})
   * @throws ModelFormatException naming the file for an unknown {@code pre} or arrays the library rejects
   */
  public static HuggingFaceJsonTokenizer fromGgufVocab(String fileName, String[] tokens, int[] types, String[] merges, String pre, int bosId,
      int eosId, int vocabSize) {
    if (types != null && types.length != tokens.length) {
      throw new ModelFormatException(fileName + ": tokenizer.ggml.token_type: expected " + tokens.length + " values, found " + types.length);
    }
    String json = tokenizerJson(fileName, tokens, types, merges, pre);
    Path dir = null;
    try {
      dir = Files.createTempDirectory("prism-gguf-tokenizer");
      Path f = dir.resolve("tokenizer.json");
      Files.writeString(f, json, StandardCharsets.UTF_8);
      return HuggingFaceJsonTokenizer.fromFile(f, vocabSize, new int[] {bosId, eosId});
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write a temporary tokenizer.json for " + fileName, e);
    } catch (ModelFormatException e) {
      throw new ModelFormatException(fileName + ": byte-level BPE vocabulary: " + e.getMessage(), e);
    } finally {
      if (dir != null) {
        try {
          Files.deleteIfExists(dir.resolve("tokenizer.json"));
          Files.deleteIfExists(dir);
        } catch (IOException ignored) {
          // a temporary file left behind is harmless
        }
      }
    }
  }

  /** The {@code tokenizer.json} text equivalent to the GGUF arrays. */
  static String tokenizerJson(String fileName, String[] tokens, int[] types, String[] merges, String pre) {
    String p = pre == null ? "default" : pre;
    StringBuilder sb = new StringBuilder(tokens.length * 24 + merges.length * 16);
    sb.append("{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[");
    boolean first = true;
    for (int i = 0; types != null && i < tokens.length; i++) {
      if (types[i] != TYPE_CONTROL && types[i] != TYPE_USER_DEFINED) continue;
      if (!first) sb.append(',');
      first = false;
      sb.append("{\"id\":").append(i).append(",\"content\":");
      string(sb, tokens[i]);
      sb.append(",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":")
          .append(types[i] == TYPE_CONTROL).append('}');
    }
    sb.append("],\"normalizer\":null,\"pre_tokenizer\":");
    switch (p) {
      case "gpt2", "default" -> sb.append("{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true}");
      case "llama-bpe", "llama3" -> splits(sb, List.of(LLAMA3));
      case "qwen2" -> splits(sb, List.of(QWEN2));
      case "deepseek-v3" -> splits(sb, DEEPSEEK_V3);
      default -> throw new ModelFormatException(fileName + ": metadata tokenizer.ggml.pre: \"" + p + "\" is not supported; supported: " + PRE_TOKENIZERS);
    }
    sb.append(",\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":false,\"use_regex\":false},");
    sb.append("\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,\"continuing_subword_prefix\":\"\",\"end_of_word_suffix\":\"\",")
        .append("\"fuse_unk\":false,\"byte_fallback\":false,\"ignore_merges\":false,\"vocab\":{");
    java.util.Set<String> seen = new java.util.HashSet<>();
    first = true;
    for (int i = 0; i < tokens.length; i++) {
      if (!seen.add(tokens[i])) continue; // first id wins, as in a JSON object read by the library
      if (!first) sb.append(',');
      first = false;
      string(sb, tokens[i]);
      sb.append(':').append(i);
    }
    sb.append("},\"merges\":[");
    for (int i = 0; i < merges.length; i++) {
      if (i > 0) sb.append(',');
      string(sb, merges[i]);
    }
    return sb.append("]}}").toString();
  }

  private static void splits(StringBuilder sb, List<String> regexes) {
    sb.append("{\"type\":\"Sequence\",\"pretokenizers\":[");
    for (String r : regexes) {
      sb.append("{\"type\":\"Split\",\"pattern\":{\"Regex\":");
      string(sb, r);
      sb.append("},\"behavior\":\"Isolated\",\"invert\":false},");
    }
    sb.append("{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":false,\"use_regex\":false}]}");
  }

  private static void string(StringBuilder sb, String s) {
    sb.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '"' || c == '\\') sb.append('\\').append(c);
      else if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
      else sb.append(c);
    }
    sb.append('"');
  }

}
