package io.prism.runtime.tokenizer;

import io.prism.runtime.format.ModelFormatException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * SentencePiece-style (BPE with scores) tokenizer as implemented by llama2.c's {@code run.c}
 * ({@code encode} / {@code decode}), built from a llama2.c tokenizer file ({@link
 * #fromLlama2cFile}) or from a GGUF {@code tokenizer.ggml.*} vocabulary ({@link #fromGgufVocab}).
 *
 * <p>Encoding of {@code text}:
 *
 * <ol>
 *   <li>optional BOS;
 *   <li>a dummy-prefix space token, only when {@code text} is non-empty;
 *   <li>each UTF-8 character (up to 4 bytes) looked up as a piece; if absent, each of its bytes
 *       becomes its byte-fallback token {@code <0xXX>} (id {@code byte + 3} in Llama vocabularies);
 *   <li>repeatedly merge the adjacent pair whose concatenation is a piece with the highest score,
 *       the leftmost pair on ties, until no pair merges (pairs scoring at or below -1e10 never
 *       merge, as in {@code run.c});
 *   <li>optional EOS.
 * </ol>
 *
 * The merge loop uses a priority queue over a linked list (O(n log n)); its result is identical to
 * {@code run.c}'s quadratic scan, which {@code SentencePieceTokenizerTest} checks against a plain
 * reference implementation.
 *
 * <p>Pieces are held as bytes with spaces as real spaces: llama2.c files already store {@code ' '},
 * and GGUF / Hugging Face vocabularies' SentencePiece meta-space {@code U+2581} ("▁") is replaced
 * by {@code ' '} when the tokenizer is built from them. Pieces of type control, unknown and unused
 * (BOS, EOS, {@code <unk>}) and the byte pieces are never produced by merging text: typed text
 * such as {@code "<s>"} stays text. Decoding a control or unknown token yields no bytes.
 *
 * <p>Immutable and thread-safe.
 */
public final class SentencePieceTokenizer implements Tokenizer {
  /** GGUF {@code tokenizer.ggml.token_type} values (llama.cpp {@code llama_token_type}). */
  public static final int TYPE_NORMAL = 1, TYPE_UNKNOWN = 2, TYPE_CONTROL = 3, TYPE_USER_DEFINED = 4, TYPE_UNUSED = 5, TYPE_BYTE = 6;

  private static final float NO_MERGE_SCORE = -1e10f;
  private static final byte[] EMPTY = new byte[0];

  private final byte[][] pieces;
  private final float[] scores;
  private final int[] types;
  private final int bosId;
  private final int eosId;
  private final boolean byteFallback;
  /** Byte value to its {@code <0xXX>} token id, or -1. */
  private final int[] byteIds = new int[256];
  /** Byte-exact piece key (ISO-8859-1 view of the piece bytes) to id; mergeable pieces only. */
  private final Map<String, Integer> ids;
  /** {@link #ids} key of each token; null for tokens that cannot be merge results. */
  private final String[] keys;
  /** Byte value of each byte token, else -1. */
  private final int[] byteValueOf;
  private final int spaceId;

  /**
   * Builds a tokenizer from pieces whose spaces are real spaces (llama2.c convention) or {@code
   * U+2581} (SentencePiece convention; converted). Token types are inferred: {@code bosId} and
   * {@code eosId} are control tokens, a piece {@code "<unk>"} is unknown, and a piece of the exact
   * form {@code <0xXX>} (uppercase hex) is a byte token.
   *
   * @param pieces token text by id
   * @param scores merge priority by id (higher merges first)
   * @param bosId beginning-of-sequence id
   * @param eosId end-of-sequence id
   * @param byteFallback whether unknown characters become {@code <0xXX>} tokens; requires all 256
   *     byte pieces
   * @throws IllegalArgumentException on mismatched lengths, ids out of range, or byte fallback
   *     without all 256 byte pieces
   */
  public SentencePieceTokenizer(String[] pieces, float[] scores, int bosId, int eosId, boolean byteFallback) {
    this(utf8(pieces), scores, null, bosId, eosId, byteFallback);
  }

  /**
   * Builds a tokenizer from raw piece bytes and optional token types (GGUF {@code token_type}
   * values, {@code TYPE_*}); {@code types == null} infers them as in the String constructor.
   * {@code U+2581} in pieces is replaced by a space.
   *
   * @throws IllegalArgumentException as the String constructor
   */
  public SentencePieceTokenizer(byte[][] pieces, float[] scores, int[] types, int bosId, int eosId, boolean byteFallback) {
    int n = pieces.length;
    if (n == 0) throw new IllegalArgumentException("vocabulary is empty");
    if (scores.length != n) throw new IllegalArgumentException("scores length " + scores.length + " != pieces length " + n);
    if (types != null && types.length != n) throw new IllegalArgumentException("types length " + types.length + " != pieces length " + n);
    if (bosId < 0 || bosId >= n) throw new IllegalArgumentException("bosId " + bosId + " outside [0, " + n + ")");
    if (eosId < 0 || eosId >= n) throw new IllegalArgumentException("eosId " + eosId + " outside [0, " + n + ")");
    this.pieces = new byte[n][];
    this.scores = scores.clone();
    this.types = new int[n];
    this.bosId = bosId;
    this.eosId = eosId;
    this.keys = new String[n];
    this.byteValueOf = new int[n];
    Arrays.fill(byteIds, -1);
    Arrays.fill(byteValueOf, -1);
    this.ids = new HashMap<>(n * 2);
    for (int id = 0; id < n; id++) {
      byte[] p = replaceMetaSpace(pieces[id]);
      this.pieces[id] = p;
      int byteValue = parseBytePiece(p);
      int type;
      if (types != null) {
        type = types[id];
      } else if (id == bosId || id == eosId) {
        type = TYPE_CONTROL;
      } else if (Arrays.equals(p, "<unk>".getBytes(StandardCharsets.US_ASCII))) {
        type = TYPE_UNKNOWN;
      } else {
        type = byteValue >= 0 ? TYPE_BYTE : TYPE_NORMAL;
      }
      this.types[id] = type;
      if (type == TYPE_BYTE) {
        if (byteValue < 0) throw new IllegalArgumentException("token " + id + " has type byte but piece is not <0xXX>");
        byteValueOf[id] = byteValue;
        if (byteIds[byteValue] < 0) byteIds[byteValue] = id;
      } else if (type == TYPE_NORMAL || type == TYPE_USER_DEFINED) {
        String key = new String(p, StandardCharsets.ISO_8859_1);
        keys[id] = key;
        ids.putIfAbsent(key, id); // first id wins on duplicates
      }
    }
    if (byteFallback) {
      for (int b = 0; b < 256; b++) {
        if (byteIds[b] < 0) throw new IllegalArgumentException(String.format("byte fallback requested but piece <0x%02X> is missing", b));
      }
    }
    this.byteFallback = byteFallback;
    this.spaceId = ids.getOrDefault(" ", -1);
  }

  /**
   * Reads a llama2.c tokenizer file (see {@link Llama2cTokenizerFile}). BOS is id 1 and EOS id 2,
   * as hard-coded in {@code run.c}; byte fallback is on when all 256 {@code <0xXX>} pieces exist.
   *
   * @throws io.prism.runtime.format.ModelFormatException when the file is malformed
   * @throws java.io.UncheckedIOException when it cannot be read
   */
  public static SentencePieceTokenizer fromLlama2cFile(Path file) {
    Llama2cTokenizerFile.Contents c = Llama2cTokenizerFile.read(file);
    if (c.pieces().length < 3) {
      throw new ModelFormatException(file.getFileName() + ": tokens: expected at least 3 (unk, BOS 1, EOS 2), found " + c.pieces().length);
    }
    return new SentencePieceTokenizer(c.pieces(), c.scores(), null, 1, 2, hasAllBytePieces(c.pieces()));
  }

  /**
   * Builds the tokenizer of a GGUF file from its {@code tokenizer.ggml.tokens}, {@code .scores},
   * {@code .token_type}, {@code .bos_token_id} and {@code .eos_token_id} (SentencePiece vocabulary,
   * {@code tokenizer.ggml.model = "llama"}). Pieces use U+2581 for spaces; byte tokens have type 6.
   * Byte fallback is on when all 256 byte tokens exist.
   *
   * @param types token types, or {@code null} to infer them
   * @throws IllegalArgumentException on inconsistent arrays or ids
   */
  public static SentencePieceTokenizer fromGgufVocab(String[] tokens, float[] scores, int[] types, int bosId, int eosId) {
    byte[][] p = utf8(tokens);
    boolean fallback;
    if (types == null) {
      fallback = hasAllBytePieces(p);
    } else {
      byte[][] bytePieces = new byte[tokens.length][];
      for (int i = 0; i < p.length; i++) bytePieces[i] = types[i] == TYPE_BYTE ? p[i] : new byte[0];
      fallback = hasAllBytePieces(bytePieces);
    }
    return new SentencePieceTokenizer(p, scores, types, bosId, eosId, fallback);
  }

  /** True when all 256 {@code <0xXX>} pieces are present among {@code pieces}. */
  public static boolean hasAllBytePieces(byte[][] pieces) {
    boolean[] seen = new boolean[256];
    int count = 0;
    for (byte[] p : pieces) {
      int b = parseBytePiece(p);
      if (b >= 0 && !seen[b]) {
        seen[b] = true;
        count++;
      }
    }
    return count == 256;
  }

  @Override
  public int vocabSize() {
    return pieces.length;
  }

  @Override
  public int bosId() {
    return bosId;
  }

  @Override
  public int eosId() {
    return eosId;
  }

  /** Whether unknown characters fall back to byte tokens. */
  public boolean byteFallback() {
    return byteFallback;
  }

  /** The piece of token {@code id} as UTF-8 text (spaces as spaces); for tools and tests. */
  public String piece(int id) {
    checkId(id);
    return new String(pieces[id], StandardCharsets.UTF_8);
  }

  /** Merge score of token {@code id}. */
  public float score(int id) {
    checkId(id);
    return scores[id];
  }

  /** Token type of {@code id} ({@code TYPE_*}). */
  public int tokenType(int id) {
    checkId(id);
    return types[id];
  }

  /**
   * {@inheritDoc}
   *
   * <p>Cost O(n log n) in the UTF-8 length of {@code text}.
   */
  @Override
  public int[] encode(String text, boolean bos, boolean eos) {
    if (text == null) throw new IllegalArgumentException("text is null");
    byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
    int[] tok = new int[utf8.length + 1];
    int n = 0;
    if (utf8.length > 0) {
      if (spaceId >= 0) tok[n++] = spaceId;
      else n = appendBytes(tok, n, new byte[] {' '}, 0, 1);
    }
    int i = 0;
    while (i < utf8.length) {
      int len = 1; // a lead byte plus up to 3 continuation bytes, as run.c groups them
      while (i + len < utf8.length && len < 4 && (utf8[i + len] & 0xC0) == 0x80) len++;
      Integer id = ids.get(new String(utf8, i, len, StandardCharsets.ISO_8859_1));
      if (id != null) tok[n++] = id;
      else n = appendBytes(tok, n, utf8, i, len);
      i += len;
    }
    int merged = merge(tok, n);
    int total = merged + (bos ? 1 : 0) + (eos ? 1 : 0);
    int[] out = new int[total];
    int o = 0;
    if (bos) out[o++] = bosId;
    System.arraycopy(tok, 0, out, o, merged);
    o += merged;
    if (eos) out[o] = eosId;
    return out;
  }

  private int appendBytes(int[] tok, int n, byte[] src, int from, int len) {
    for (int k = from; k < from + len; k++) {
      int b = src[k] & 0xFF;
      if (!byteFallback) {
        throw new IllegalArgumentException(String.format("text byte 0x%02X has no token and the vocabulary has no byte fallback", b));
      }
      tok[n++] = byteIds[b];
    }
    return n;
  }

  /** A candidate merge of the pair starting at list node {@code left}. */
  private record Candidate(float score, int left, int right, int leftTok, int rightTok, int merged) {}

  /**
   * Best-score-first merging over a doubly linked list of {@code tok[0..n)}; compacts the result
   * into {@code tok} and returns its length.
   */
  private int merge(int[] tok, int n) {
    if (n < 2) return n;
    int[] next = new int[n];
    int[] prev = new int[n];
    boolean[] alive = new boolean[n];
    for (int k = 0; k < n; k++) {
      next[k] = k + 1 < n ? k + 1 : -1;
      prev[k] = k - 1;
      alive[k] = true;
    }
    PriorityQueue<Candidate> queue =
        new PriorityQueue<>(n, (a, b) -> a.score != b.score ? Float.compare(b.score, a.score) : Integer.compare(a.left, b.left));
    for (int k = 0; k + 1 < n; k++) offer(queue, tok, k, k + 1);
    while (!queue.isEmpty()) {
      Candidate c = queue.poll();
      int l = c.left, r = c.right;
      if (!alive[l] || !alive[r] || next[l] != r || tok[l] != c.leftTok || tok[r] != c.rightTok) continue; // stale
      tok[l] = c.merged;
      alive[r] = false;
      next[l] = next[r];
      if (next[r] >= 0) prev[next[r]] = l;
      if (prev[l] >= 0) offer(queue, tok, prev[l], l);
      if (next[l] >= 0) offer(queue, tok, l, next[l]);
    }
    int m = 0;
    for (int k = 0; k >= 0; k = next[k]) tok[m++] = tok[k];
    return m;
  }

  private void offer(PriorityQueue<Candidate> queue, int[] tok, int l, int r) {
    String a = keys[tok[l]], b = keys[tok[r]];
    if (a == null || b == null) return; // byte tokens never merge (run.c compares their "<0xXX>" text)
    Integer id = ids.get(a + b);
    if (id != null && scores[id] > NO_MERGE_SCORE) queue.add(new Candidate(scores[id], l, r, tok[l], tok[r], id));
  }

  /** The piece of a control token ({@code <s>}, {@code </s>}), or null for others. */
  @Override
  public String specialTokenText(int id) {
    return id >= 0 && id < types.length && types[id] == TYPE_CONTROL ? new String(pieces[id], StandardCharsets.UTF_8) : null;
  }

  @Override
  public byte[] decodeBytes(int previousId, int id) {
    checkId(id);
    int type = types[id];
    if (type == TYPE_BYTE) return new byte[] {(byte) byteValueOf[id]};
    if (type == TYPE_CONTROL || type == TYPE_UNKNOWN || type == TYPE_UNUSED) return EMPTY;
    byte[] p = pieces[id];
    if (previousId == bosId && p.length > 0 && p[0] == ' ') return Arrays.copyOfRange(p, 1, p.length);
    return p.clone();
  }

  private void checkId(int id) {
    if (id < 0 || id >= pieces.length) throw new IllegalArgumentException("token id " + id + " outside [0, " + pieces.length + ")");
  }

  /** Value of a piece of the exact form {@code <0xXX>} (hex digits any case), else -1. */
  static int parseBytePiece(byte[] p) {
    if (p.length != 6 || p[0] != '<' || p[1] != '0' || p[2] != 'x' || p[5] != '>') return -1;
    int hi = Character.digit(p[3], 16), lo = Character.digit(p[4], 16);
    return hi < 0 || lo < 0 ? -1 : hi << 4 | lo;
  }

  private static final byte[] META_SPACE = "\u2581".getBytes(StandardCharsets.UTF_8);

  /** Replaces SentencePiece's U+2581 by a space. */
  static byte[] replaceMetaSpace(byte[] p) {
    int hits = 0;
    for (int i = 0; i + 2 < p.length; i++) {
      if (p[i] == META_SPACE[0] && p[i + 1] == META_SPACE[1] && p[i + 2] == META_SPACE[2]) hits++;
    }
    if (hits == 0) return p.clone();
    byte[] out = new byte[p.length - 2 * hits];
    int o = 0;
    for (int i = 0; i < p.length; ) {
      if (i + 2 < p.length && p[i] == META_SPACE[0] && p[i + 1] == META_SPACE[1] && p[i + 2] == META_SPACE[2]) {
        out[o++] = ' ';
        i += 3;
      } else {
        out[o++] = p[i++];
      }
    }
    return out;
  }

  private static byte[][] utf8(String[] pieces) {
    byte[][] b = new byte[pieces.length][];
    for (int i = 0; i < pieces.length; i++) {
      if (pieces[i] == null) throw new IllegalArgumentException("piece " + i + " is null");
      b[i] = pieces[i].getBytes(StandardCharsets.UTF_8);
    }
    return b;
  }
}
