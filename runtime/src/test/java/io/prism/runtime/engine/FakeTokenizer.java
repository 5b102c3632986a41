package io.prism.runtime.engine;

import io.prism.runtime.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;

/**
 * A test vocabulary: 0 {@code <unk>}, 1 BOS, 2 EOS, then pieces "a", " b", "c", "d", " e" ...
 * (every third piece with a leading space), and the last id the multi-byte piece "é".
 */
final class FakeTokenizer implements Tokenizer {
  private final String[] pieces;

  FakeTokenizer(int vocabSize) {
    pieces = new String[vocabSize];
    pieces[0] = "<unk>";
    pieces[1] = "<s>";
    pieces[2] = "</s>";
    for (int i = 3; i < vocabSize - 1; i++) pieces[i] = (i % 3 == 1 ? " " : "") + (char) ('a' + (i - 3) % 26);
    pieces[vocabSize - 1] = "é";
  }

  /** Id of the piece {@code text}. */
  int id(String text) {
    for (int i = 0; i < pieces.length; i++) if (pieces[i].equals(text)) return i;
    throw new IllegalArgumentException("no piece " + text);
  }

  @Override
  public int vocabSize() {
    return pieces.length;
  }

  @Override
  public int bosId() {
    return 1;
  }

  @Override
  public int eosId() {
    return 2;
  }

  @Override
  public int[] encode(String text, boolean bos, boolean eos) {
    throw new UnsupportedOperationException("tests build token ids directly");
  }

  @Override
  public byte[] decodeBytes(int previousId, int id) {
    if (id < 0 || id >= pieces.length) throw new IllegalArgumentException("token id " + id);
    String p = pieces[id];
    if (previousId == 1 && p.startsWith(" ")) p = p.substring(1);
    return p.getBytes(StandardCharsets.UTF_8);
  }
}
