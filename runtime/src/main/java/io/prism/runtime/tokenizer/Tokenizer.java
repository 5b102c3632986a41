package io.prism.runtime.tokenizer;

/**
 * Text to token ids and back. Implementations are immutable and thread-safe.
 *
 * <p>Token text is exposed as raw bytes because a SentencePiece byte-fallback token ({@code
 * <0xE2>}) is a fragment of a UTF-8 character; use {@link StreamingDetokenizer} to turn a token
 * stream into text without splitting characters.
 */
public interface Tokenizer {
  /** Number of token ids; must equal the model's vocab size. */
  int vocabSize();

  /** Beginning-of-sequence id (1 for Llama 2 / llama2.c). */
  int bosId();

  /** End-of-sequence id (2 for Llama 2 / llama2.c). */
  int eosId();

  /**
   * Whether generating {@code id} ends a sequence: EOS, and for chat models also the other stop
   * tokens their config files and template name (e.g. Qwen's {@code <|im_end|>} and {@code
   * <|endoftext|>}; see {@code io.prism.runtime.chat.ChatTokenizer}).
   */
  default boolean isStopToken(int id) {
    return id == eosId();
  }

  /**
   * Encodes {@code text} (SentencePiece: dummy-prefix space, greedy best-score merges, byte
   * fallback), optionally with BOS first and EOS last.
   *
   * @throws IllegalArgumentException if a byte of the text has no token and no byte-fallback token
   */
  int[] encode(String text, boolean bos, boolean eos);

  /**
   * The bytes token {@code id} contributes to the text when it follows {@code previousId} (a
   * leading space is dropped after BOS, {@code <0xXX>} becomes that single byte).
   *
   * @throws IllegalArgumentException if {@code id} is outside {@code [0, vocabSize)}
   */
  byte[] decodeBytes(int previousId, int id);

  /**
   * The text of special token {@code id} (one that contributes no bytes to generated text, such as
   * BOS or {@code <|im_end|>}), or null when {@code id} is not special. Default: none.
   */
  default String specialTokenText(int id) {
    return null;
  }

  /**
   * Whole-sequence decoding that writes special tokens as their text (as Hugging Face's {@code
   * decode(ids, skip_special_tokens=False)}), for {@code POST /detokenize}: the text between special
   * tokens is decoded as {@link #decode} does (never splitting a UTF-8 character), a SentencePiece
   * leading space after BOS dropped.
   */
  default String decodeWithSpecialTokens(int[] ids) {
    StringBuilder sb = new StringBuilder();
    StreamingDetokenizer d = new StreamingDetokenizer(this, bosId());
    for (int id : ids) {
      String special = specialTokenText(id);
      if (special == null) {
        sb.append(d.next(id));
        continue;
      }
      sb.append(d.flush()).append(special);
      d = new StreamingDetokenizer(this, id);
    }
    return sb.append(d.flush()).toString();
  }

  /** Whole-sequence decoding of {@code ids} (no leading BOS expected), for tests and tools. */
  default String decode(int[] ids) {
    StreamingDetokenizer d = new StreamingDetokenizer(this, bosId());
    StringBuilder sb = new StringBuilder();
    for (int id : ids) sb.append(d.next(id));
    sb.append(d.flush());
    return sb.toString();
  }
}
