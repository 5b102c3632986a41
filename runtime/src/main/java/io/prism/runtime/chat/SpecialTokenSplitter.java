package io.prism.runtime.chat;

import io.prism.runtime.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Keeps special tokens whole when a tokenizer would split their text: a SentencePiece vocabulary
 * (llama2.c or GGUF {@code llama}) does not match control tokens such as {@code <s>} in text, so a
 * template that writes {@code bos_token} would otherwise give {@code <}, {@code s}, {@code >}. The
 * rendered text is cut at every special token text the tokenizer does not recognise itself (the
 * longest at a position wins); each piece between is encoded on its own (so a SentencePiece piece
 * gets its dummy-prefix space after a special token, as Hugging Face's legacy Llama tokenizer does)
 * and each special text becomes its id. Tokenizers that recognise all their special texts
 * ({@code tokenizer.json} through DJL) are not split. Immutable; any thread.
 */
final class SpecialTokenSplitter {
  private static final SpecialTokenSplitter NONE = new SpecialTokenSplitter(List.of(), new int[0]);

  /** Texts, longest first, and their ids. */
  private final List<String> texts;
  private final int[] ids;

  private SpecialTokenSplitter(List<String> texts, int[] ids) {
    this.texts = texts;
    this.ids = ids;
  }

  /** The special token texts of {@code t} that its own {@code encode} does not turn into their single id. */
  static SpecialTokenSplitter of(Tokenizer t) {
    Map<String, Integer> found = new LinkedHashMap<>();
    for (int id = 0; id < t.vocabSize(); id++) {
      String text = t.specialTokenText(id);
      if (text == null || text.isEmpty() || found.containsKey(text)) continue;
      if (ChatTokenizer.singleId(t, text) == id) continue;
      found.put(text, id);
    }
    if (found.isEmpty()) return NONE;
    List<String> texts = new ArrayList<>(found.keySet());
    texts.sort(Comparator.comparingInt(String::length).reversed());
    int[] ids = new int[texts.size()];
    for (int i = 0; i < ids.length; i++) ids[i] = found.get(texts.get(i));
    return new SpecialTokenSplitter(List.copyOf(texts), ids);
  }

  /** Whether nothing needs splitting. */
  boolean isEmpty() {
    return texts.isEmpty();
  }

  /** {@code text} encoded with the special texts kept whole; BOS first when {@code bos}. */
  int[] encode(Tokenizer t, String text, boolean bos) {
    if (texts.isEmpty()) return t.encode(text, bos, false);
    List<int[]> parts = new ArrayList<>();
    if (bos) parts.add(new int[] {t.bosId()});
    int from = 0;
    while (from < text.length()) {
      int at = -1, which = -1;
      for (int k = 0; k < texts.size(); k++) {
        int i = text.indexOf(texts.get(k), from);
        if (i >= 0 && (at < 0 || i < at)) {
          at = i;
          which = k; // texts are longest first, so at equal positions the longest stays
        }
      }
      int end = at < 0 ? text.length() : at;
      if (end > from) parts.add(t.encode(text.substring(from, end), false, false));
      if (at < 0) break;
      parts.add(new int[] {ids[which]});
      from = at + texts.get(which).length();
    }
    int n = 0;
    for (int[] p : parts) n += p.length;
    int[] out = new int[n];
    int o = 0;
    for (int[] p : parts) {
      System.arraycopy(p, 0, out, o, p.length);
      o += p.length;
    }
    return out;
  }
}
