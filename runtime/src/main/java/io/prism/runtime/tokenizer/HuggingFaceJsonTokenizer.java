package io.prism.runtime.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import io.prism.runtime.format.Json;
import io.prism.runtime.format.ModelFormatException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A Hugging Face {@code tokenizer.json} tokenizer: encoding by the Rust {@code tokenizers} library
 * through DJL ({@code ai.djl.huggingface:tokenizers}, whose jar carries {@code libtokenizers.so}
 * and extracts it once into DJL's cache directory, {@code ~/.djl.ai} or {@code DJL_CACHE_DIR});
 * decoding by Prism from the vocabulary in the same file.
 *
 * <p>Network: loading this class sets the system property {@code ai.djl.offline=true} unless it is
 * already set, so DJL never downloads a native library nor sends its telemetry ping; the
 * linux-x86_64 library comes from the jar.
 *
 * <p>Encoding: {@code encode(text, addSpecialTokens = false)}, so the tokenizer's post-processor
 * adds nothing; BOS and EOS are added here when asked. Special tokens written literally in the text
 * (e.g. {@code <|eot_id|>}) are recognised by the library as such.
 *
 * <p>Decoding ({@link #decodeBytes}) is per token so that {@link StreamingDetokenizer} can stream:
 * <ul>
 *   <li>byte-level BPE (a {@code ByteLevel} pre-tokenizer or decoder: GPT-2, Llama 3): the token
 *       string is mapped back through GPT-2's byte alphabet ({@link ByteLevelAlphabet}) to the raw
 *       bytes, which may be a fragment of a UTF-8 character;
 *   <li>otherwise SentencePiece style (Llama 2, Mistral): {@code ▁} (U+2581) becomes a space, a
 *       {@code <0xXX>} byte-fallback token that single byte, and a leading space is dropped after
 *       BOS (the dummy prefix), as {@link SentencePieceTokenizer} does;
 *   <li>added tokens (the {@code added_tokens} list) are plain text: special ones contribute nothing,
 *       others their UTF-8 content. Ids the vocabulary does not name (padding up to the model's
 *       vocab size) contribute nothing. WordPiece {@code ##} continuations are not joined.
 * </ul>
 *
 * <p>BOS/EOS: {@code bos_token}/{@code eos_token} of {@code tokenizer_config.json} beside the file
 * when present (string or {@code {"content": ...}}; an explicit {@code null}, as Qwen's {@code
 * "bos_token": null}, means none); else the first of {@code <s>, <|begin_of_text|>, <bos>,
 * <|startoftext|>, <|endoftext|>} and {@code </s>, <|end_of_text|>, <|eot_id|>, <eos>,
 * <|endoftext|>} that is an added token (never an ordinary vocabulary piece that happens to read
 * {@code <s>}); -1 when none (then {@code encode} with {@code bos} or {@code eos} throws).
 *
 * <p>Threading: immutable; any thread. Calls into the native tokenizer are serialized on this
 * instance (conservative: DJL does not document its handle as thread-safe); decoding is lock-free.
 * The native tokenizer lives as long as this object (freed by DJL's cleaner/finalizer).
 */
public final class HuggingFaceJsonTokenizer implements Tokenizer {
  static {
    if (System.getProperty("ai.djl.offline") == null) System.setProperty("ai.djl.offline", "true");
  }

  private static final byte[] EMPTY = new byte[0];
  private static final List<String> BOS_NAMES = List.of("<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>", "<|endoftext|>");
  private static final List<String> EOS_NAMES = List.of("</s>", "<|end_of_text|>", "<|eot_id|>", "<eos>", "<|endoftext|>");

  private final HuggingFaceTokenizer native_;
  private final Path file;
  /** Bytes each id contributes; null for ids without text of their own. */
  private final byte[][] bytes;
  /** Text of each special added token by id; null elsewhere. */
  private final String[] specialText;
  private final boolean sentencePieceStyle;
  private final int bosId, eosId;

  private HuggingFaceJsonTokenizer(HuggingFaceTokenizer nativeTokenizer, Path file, byte[][] bytes, String[] specialText, boolean sentencePieceStyle,
      int bosId, int eosId) {
    this.native_ = nativeTokenizer;
    this.specialText = specialText;
    this.file = file;
    this.bytes = bytes;
    this.sentencePieceStyle = sentencePieceStyle;
    this.bosId = bosId;
    this.eosId = eosId;
  }

  /**
   * Loads {@code tokenizerJson} (and {@code tokenizer_config.json} beside it, if present).
   *
   * @param vocabSizeOrMinusOne the model's vocab size (embedding rows), at least the tokenizer's
   *     largest id + 1 (extra ids decode to nothing); -1 to use the tokenizer's own size
   * @throws IllegalArgumentException when the file is missing or the tokenizer has more ids than
   *     {@code vocabSizeOrMinusOne}
   * @throws ModelFormatException naming the file when it is not a valid tokenizer.json
   */
  public static HuggingFaceJsonTokenizer fromFile(Path tokenizerJson, int vocabSizeOrMinusOne) {
    return fromFile(tokenizerJson, vocabSizeOrMinusOne, null);
  }

  /**
   * As {@link #fromFile(Path, int)} with BOS and EOS given ({@code {bosId, eosId}}, -1 for none)
   * instead of read from {@code tokenizer_config.json} (for vocabularies from other formats, such
   * as {@link GgufBpeTokenizer}).
   */
  @SuppressWarnings("unchecked")
  static HuggingFaceJsonTokenizer fromFile(Path tokenizerJson, int vocabSizeOrMinusOne, int[] bosEos) {
    if (!Files.isRegularFile(tokenizerJson)) throw new IllegalArgumentException("tokenizer.json not found: " + tokenizerJson.toAbsolutePath());
    Map<String, Object> root;
    try {
      Object o = Json.parse(Files.readString(tokenizerJson, StandardCharsets.UTF_8));
      if (!(o instanceof Map<?, ?> m)) throw new ModelFormatException(tokenizerJson + ": not a JSON object");
      root = (Map<String, Object>) m;
    } catch (IOException e) {
      throw new ModelFormatException(tokenizerJson + ": cannot read (" + e.getMessage() + ")", e);
    } catch (ModelFormatException e) {
      throw e.getMessage().startsWith(tokenizerJson.toString()) ? e : new ModelFormatException(tokenizerJson + ": " + e.getMessage(), e);
    }
    if (!(root.get("model") instanceof Map<?, ?> model)) throw new ModelFormatException(tokenizerJson + ": key model is missing");
    Map<String, Integer> ids = new HashMap<>();
    Map<Integer, String> text = new HashMap<>();
    Map<Integer, Boolean> special = new HashMap<>();
    Object vocab = model.get("vocab");
    if (vocab instanceof Map<?, ?> vm) {
      for (Map.Entry<?, ?> e : vm.entrySet()) {
        if (!(e.getValue() instanceof Number n)) throw new ModelFormatException(tokenizerJson + ": model.vocab[" + e.getKey() + "] is not a number");
        put(tokenizerJson, ids, text, (String) e.getKey(), n.intValue());
      }
    } else if (vocab instanceof List<?> vl) { // Unigram: [[piece, score], ...]
      for (int i = 0; i < vl.size(); i++) {
        if (!(vl.get(i) instanceof List<?> pair) || pair.isEmpty() || !(pair.get(0) instanceof String s)) {
          throw new ModelFormatException(tokenizerJson + ": model.vocab[" + i + "] is not [piece, score]");
        }
        put(tokenizerJson, ids, text, s, i);
      }
    } else {
      throw new ModelFormatException(tokenizerJson + ": key model.vocab is missing");
    }
    if (root.get("added_tokens") instanceof List<?> added) {
      for (Object a : added) {
        if (!(a instanceof Map<?, ?> am) || !(am.get("id") instanceof Number n) || !(am.get("content") instanceof String s)) {
          throw new ModelFormatException(tokenizerJson + ": added_tokens entry " + a + " lacks id or content");
        }
        ids.put(s, n.intValue());
        text.put(n.intValue(), s);
        special.put(n.intValue(), Boolean.TRUE.equals(am.get("special")));
      }
    }
    int own = text.keySet().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
    if (own == 0) throw new ModelFormatException(tokenizerJson + ": the vocabulary is empty");
    if (vocabSizeOrMinusOne != -1 && vocabSizeOrMinusOne < own) {
      throw new IllegalArgumentException("tokenizer " + tokenizerJson + " has ids up to " + (own - 1) + " but the model's vocab size is " + vocabSizeOrMinusOne);
    }
    int size = vocabSizeOrMinusOne == -1 ? own : vocabSizeOrMinusOne;
    boolean byteLevel = mentions(root.get("pre_tokenizer"), "ByteLevel") || mentions(root.get("decoder"), "ByteLevel");
    byte[][] bytes = new byte[size][];
    String[] specialText = new String[size];
    for (Map.Entry<Integer, String> e : text.entrySet()) {
      int id = e.getKey();
      String s = e.getValue();
      if (special.containsKey(id)) {
        bytes[id] = special.get(id) ? null : ByteLevelAlphabet.utf8(s);
        if (special.get(id)) specialText[id] = s;
      } else if (byteLevel) {
        byte[] b = ByteLevelAlphabet.decode(s);
        bytes[id] = b != null ? b : ByteLevelAlphabet.utf8(s);
      } else {
        bytes[id] = sentencePieceBytes(s);
      }
    }
    Map<String, Object> cfg = bosEos != null ? Map.of() : tokenizerConfig(tokenizerJson.toAbsolutePath().resolveSibling("tokenizer_config.json"));
    int bos = cfg.containsKey("bos_token") && cfg.get("bos_token") == null ? -1 : specialId(tokenizerJson, ids, special, cfg.get("bos_token"), BOS_NAMES);
    int eos = cfg.containsKey("eos_token") && cfg.get("eos_token") == null ? -1 : specialId(tokenizerJson, ids, special, cfg.get("eos_token"), EOS_NAMES);
    if (bosEos != null) {
      bos = bosEos[0];
      eos = bosEos[1];
    }
    HuggingFaceTokenizer t;
    try {
      t = HuggingFaceTokenizer.newInstance(tokenizerJson, Map.of("addSpecialTokens", "false", "truncation", "false", "padding", "false"));
    } catch (IOException | RuntimeException e) {
      throw new ModelFormatException(tokenizerJson + ": the tokenizers library rejects it (" + e.getMessage() + ")", e);
    }
    return new HuggingFaceJsonTokenizer(t, tokenizerJson, bytes, specialText, !byteLevel, bos, eos);
  }

  private static void put(Path f, Map<String, Integer> ids, Map<Integer, String> text, String s, int id) {
    if (id < 0) throw new ModelFormatException(f + ": token " + s + " has negative id " + id);
    ids.put(s, id);
    text.put(id, s);
  }

  /** Whether a (possibly Sequence) component of the pipeline has {@code "type": type}. */
  private static boolean mentions(Object component, String type) {
    if (component instanceof Map<?, ?> m) {
      if (type.equals(m.get("type"))) return true;
      for (Object v : m.values()) if (v instanceof List<?> && mentions(v, type)) return true;
    } else if (component instanceof List<?> l) {
      for (Object o : l) if (mentions(o, type)) return true;
    }
    return false;
  }

  private static byte[] sentencePieceBytes(String piece) {
    if (piece.length() == 6 && piece.startsWith("<0x") && piece.endsWith(">")) {
      int hi = Character.digit(piece.charAt(3), 16), lo = Character.digit(piece.charAt(4), 16);
      if (hi >= 0 && lo >= 0) return new byte[] {(byte) (hi << 4 | lo)};
    }
    return piece.replace('\u2581', ' ').getBytes(StandardCharsets.UTF_8);
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> tokenizerConfig(Path f) {
    if (!Files.isRegularFile(f)) return Map.of();
    try {
      return Json.parse(Files.readString(f, StandardCharsets.UTF_8)) instanceof Map<?, ?> m ? (Map<String, Object>) m : Map.of();
    } catch (IOException e) {
      throw new ModelFormatException(f + ": cannot read (" + e.getMessage() + ")", e);
    } catch (ModelFormatException e) {
      throw new ModelFormatException(f + ": " + e.getMessage(), e);
    }
  }

  private static int specialId(Path f, Map<String, Integer> ids, Map<Integer, Boolean> added, Object configured, List<String> fallbacks) {
    String name = configured instanceof String s ? s : configured instanceof Map<?, ?> m && m.get("content") instanceof String c ? c : null;
    if (name != null) {
      Integer id = ids.get(name);
      if (id == null) throw new ModelFormatException(f + ": tokenizer_config.json names special token " + name + ", which the vocabulary lacks");
      return id;
    }
    for (String n : fallbacks) if (ids.containsKey(n) && added.containsKey(ids.get(n))) return ids.get(n);
    return -1;
  }

  /** The tokenizer.json this was loaded from. */
  public Path file() {
    return file;
  }

  @Override
  public int vocabSize() {
    return bytes.length;
  }

  /** BOS id, or -1 when the vocabulary has none (see the class comment). */
  @Override
  public int bosId() {
    return bosId;
  }

  /** EOS id, or -1 when the vocabulary has none (see the class comment). */
  @Override
  public int eosId() {
    return eosId;
  }

  /**
   * Encodes with the tokenizer.json pipeline (normalizer, pre-tokenizer, model; no
   * post-processor), BOS first and EOS last when asked.
   *
   * @throws IllegalArgumentException when {@code bos} or {@code eos} is asked but the vocabulary
   *     has no such token, or the library returns an id outside {@code [0, vocabSize)}
   */
  @Override
  public int[] encode(String text, boolean bos, boolean eos) {
    if (bos && bosId < 0) throw new IllegalArgumentException(file + " has no BOS token");
    if (eos && eosId < 0) throw new IllegalArgumentException(file + " has no EOS token");
    long[] raw;
    synchronized (this) {
      raw = native_.encode(text, false, false).getIds();
    }
    int off = bos ? 1 : 0;
    int[] out = new int[raw.length + off + (eos ? 1 : 0)];
    if (bos) out[0] = bosId;
    for (int i = 0; i < raw.length; i++) {
      if (raw[i] < 0 || raw[i] >= bytes.length) throw new IllegalArgumentException(file + ": encoded id " + raw[i] + " outside [0, " + bytes.length + ")");
      out[off + i] = (int) raw[i];
    }
    if (eos) out[out.length - 1] = eosId;
    return out;
  }

  /** The content of special added token {@code id}, or null. */
  @Override
  public String specialTokenText(int id) {
    return id >= 0 && id < specialText.length ? specialText[id] : null;
  }

  @Override
  public byte[] decodeBytes(int previousId, int id) {
    if (id < 0 || id >= bytes.length) throw new IllegalArgumentException("token id " + id + " outside [0, " + bytes.length + ")");
    byte[] b = bytes[id];
    if (b == null) return EMPTY;
    if (sentencePieceStyle && previousId == bosId && previousId >= 0 && b.length > 0 && b[0] == ' ') {
      return java.util.Arrays.copyOfRange(b, 1, b.length);
    }
    return b.clone();
  }
}
