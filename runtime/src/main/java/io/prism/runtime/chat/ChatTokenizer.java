package io.prism.runtime.chat;

import io.prism.runtime.format.ModelFormatException;
import io.prism.runtime.model.GgufReader;
import io.prism.runtime.tokenizer.HuggingFaceJsonTokenizer;
import io.prism.runtime.tokenizer.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * A model's tokenizer together with its {@link ChatFormat}: encodes, decodes and knows EOS exactly
 * as the tokenizer it wraps, and adds chat rendering ({@link #encodeChat}) and the model's stop
 * tokens ({@link #isStopToken}: EOS, the config files' {@code eos_token_id}s, and the end-of-turn
 * tokens its template writes that are single tokens of the vocabulary).
 *
 * <p>BOS, as Hugging Face: the rendered text is encoded without special tokens, so a template that
 * writes {@code bos_token} (Llama 3, DeepSeek, Mistral) gets exactly one BOS; BOS is prepended only
 * when the model's config says its tokenizer adds one ({@code add_bos_token}; GGUF {@code
 * tokenizer.ggml.add_bos_token}) and the text does not already start with the BOS text (where
 * {@code transformers} would add none; this is llama.cpp's behaviour).
 *
 * <p>Special tokens the template writes stay whole even with a tokenizer that does not match them
 * in text (SentencePiece {@code <s>}; {@link SpecialTokenSplitter}).
 *
 * <p>Models without a template keep the behaviour Prism always had: the messages' contents joined
 * by newlines, BOS first ({@link ChatInput#plainText()}).
 *
 * <p>Threading: immutable; any thread (the wrapped tokenizer is thread-safe).
 */
public final class ChatTokenizer implements Tokenizer {
  private final Tokenizer base;
  private final ChatFormat format;
  private final int[] stopIds;
  /** Special texts the base tokenizer would split; computed on first chat (null until then). */
  private volatile SpecialTokenSplitter splitter;

  /**
   * @param base the model's tokenizer
   * @param format what its files say about chat
   */
  public ChatTokenizer(Tokenizer base, ChatFormat format) {
    if (base instanceof ChatTokenizer c) base = c.base;
    this.base = base;
    this.format = format;
    java.util.TreeSet<Integer> ids = new java.util.TreeSet<>();
    if (base.eosId() >= 0) ids.add(base.eosId());
    for (int id : format.stopIds()) if (id >= 0 && id < base.vocabSize()) ids.add(id);
    for (String t : format.stopTexts()) {
      int id = singleId(base, t);
      if (id >= 0) ids.add(id);
    }
    this.stopIds = ids.stream().mapToInt(Integer::intValue).toArray();
  }

  /**
   * {@code tokenizer} with the chat format of the model it came from, or {@code tokenizer} itself
   * when the files say nothing about chat. Looks, in order, in {@code source} when it is a {@code
   * .gguf} file, beside a {@code tokenizer.json} tokenizer ({@link HuggingFaceJsonTokenizer#file()}),
   * and in {@code source} when it is a folder.
   *
   * @param source the model's source (a path, or {@code random:NAME})
   * @throws ModelFormatException when a config file is malformed
   */
  public static Tokenizer withChatFormat(Tokenizer tokenizer, String source) {
    if (tokenizer instanceof ChatTokenizer) return tokenizer;
    ChatFormat f = ChatFormat.none();
    Path src = source == null || source.startsWith("random:") ? null : Path.of(source);
    if (src != null && Files.isRegularFile(src) && src.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".gguf")) {
      f = ChatFormat.fromGguf(GgufReader.read(src));
    } else if (tokenizer instanceof HuggingFaceJsonTokenizer h && Files.isRegularFile(h.file()) && h.file().toAbsolutePath().getParent() != null) {
      f = ChatFormat.fromDirectory(h.file().toAbsolutePath().getParent());
    } else if (src != null && Files.isDirectory(src)) {
      f = ChatFormat.fromDirectory(src);
    }
    ChatTokenizer c = new ChatTokenizer(tokenizer, f);
    return f.hasTemplate() || c.stopIds.length > (tokenizer.eosId() >= 0 ? 1 : 0) ? c : tokenizer;
  }

  /** The id of {@code text} when it is one token of {@code t}'s vocabulary, else -1. */
  static int singleId(Tokenizer t, String text) {
    try {
      int[] ids = t.encode(text, false, false);
      return ids.length == 1 ? ids[0] : -1;
    } catch (IllegalArgumentException e) {
      return -1;
    }
  }

  /** The wrapped tokenizer. */
  public Tokenizer base() {
    return base;
  }

  /** The chat format. */
  public ChatFormat format() {
    return format;
  }

  /** Stop token ids, ascending. */
  public int[] stopIds() {
    return stopIds.clone();
  }

  /**
   * The prompt tokens of a chat request (see the class comment for BOS and for models without a
   * template).
   *
   * @throws ChatTemplateException when the template fails
   * @throws IllegalArgumentException when the input is malformed or the text cannot be tokenized
   */
  public int[] encodeChat(ChatInput chat) {
    return encodeChat(this, chat);
  }

  /**
   * The prompt tokens of {@code chat} for any tokenizer: a {@link ChatTokenizer} with a template
   * renders it; otherwise the contents joined by newlines, BOS first.
   *
   * @throws ChatTemplateException when the template fails
   * @throws IllegalArgumentException when the input is malformed or the text cannot be tokenized
   */
  public static int[] encodeChat(Tokenizer tokenizer, ChatInput chat) {
    if (tokenizer instanceof ChatTokenizer c && c.format.hasTemplate()) {
      String text = c.format.render(chat);
      String bos = c.format.bosToken();
      boolean addBos = c.format.addBosToken() && c.base.bosId() >= 0 && (bos == null || !text.startsWith(bos));
      return c.splitter().encode(c.base, text, addBos);
    }
    return tokenizer.encode(chat.plainText(), true, false);
  }

  private SpecialTokenSplitter splitter() {
    SpecialTokenSplitter s = splitter;
    if (s == null) splitter = s = SpecialTokenSplitter.of(base);
    return s;
  }

  /** The rendered prompt text of {@code chat} (see {@link #encodeChat(Tokenizer, ChatInput)}), BOS not included. */
  public static String renderChat(Tokenizer tokenizer, ChatInput chat) {
    return tokenizer instanceof ChatTokenizer c && c.format.hasTemplate() ? c.format.render(chat) : chat.plainText();
  }

  @Override
  public boolean isStopToken(int id) {
    return Arrays.binarySearch(stopIds, id) >= 0;
  }

  @Override
  public int vocabSize() {
    return base.vocabSize();
  }

  @Override
  public int bosId() {
    return base.bosId();
  }

  @Override
  public int eosId() {
    return base.eosId();
  }

  @Override
  public int[] encode(String text, boolean bos, boolean eos) {
    return base.encode(text, bos, eos);
  }

  @Override
  public String specialTokenText(int id) {
    return base.specialTokenText(id);
  }

  @Override
  public byte[] decodeBytes(int previousId, int id) {
    return base.decodeBytes(previousId, id);
  }
}
