package io.prism.runtime.chat;

import io.prism.runtime.format.Json;
import io.prism.runtime.format.ModelFormatException;
import io.prism.runtime.model.GgufReader.GgufFile;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * What a model's files say about chat: its chat templates, special-token texts, whether its
 * tokenizer adds BOS, and its stop tokens. Immutable; any thread.
 *
 * <p>Sources:
 * <ul>
 *   <li>A Hugging Face folder: {@code tokenizer_config.json} ({@code chat_template} as a string, or a
 *       list of {@code {"name", "template"}}; {@code bos_token}, {@code eos_token}, {@code
 *       unk_token}, {@code pad_token} as a string or {@code {"content": ...}}; {@code
 *       add_bos_token}, default false), else {@code chat_template.jinja} (newer {@code
 *       transformers}); stop ids from {@code generation_config.json} and {@code config.json}
 *       ({@code eos_token_id}, an int or a list).
 *   <li>A GGUF file (llama.cpp's keys): {@code tokenizer.chat_template} (named ones as {@code
 *       tokenizer.chat_template.NAME}), token texts from {@code tokenizer.ggml.tokens} at {@code
 *       tokenizer.ggml.bos_token_id} / {@code eos_token_id}, {@code tokenizer.ggml.add_bos_token}
 *       (default true, as llama.cpp), stop ids {@code eos_token_id}, {@code eot_token_id}, {@code
 *       eom_token_id}.
 * </ul>
 *
 * <p>Template choice (as {@code transformers}' {@code get_chat_template}): a single template is
 * used for everything; of named ones {@code tool_use} when the request has tools and there is one,
 * else {@code default}.
 *
 * <p>End-of-turn tokens: the texts {@link #END_OF_TURN} that the template writes (e.g. {@code
 * <|im_end|>}, {@code <|eot_id|>}) are stop tokens too, so a model that ends its turn stops even
 * when its {@code eos_token} is another token ({@link #stopTexts()}).
 */
public final class ChatFormat {
  /** End-of-turn token texts recognised in templates (ChatML, Llama 3, Gemma, Phi-3, DeepSeek, Mistral). */
  public static final List<String> END_OF_TURN = List.of("<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<end_of_turn>", "<|end|>",
      "<｜end▁of▁sentence｜>", "</s>", "<|endoftext|>");

  private static final ChatFormat NONE = new ChatFormat("", Map.of(), null, null, null, null, false, List.of(), List.of());

  private final String source;
  private final Map<String, JinjaChatTemplate> templates;
  private final String bosToken, eosToken, unkToken, padToken;
  private final boolean addBosToken;
  private final List<Integer> stopIds;
  private final List<String> stopTexts;

  private ChatFormat(String source, Map<String, JinjaChatTemplate> templates, String bosToken, String eosToken, String unkToken, String padToken,
      boolean addBosToken, List<Integer> stopIds, List<String> stopTexts) {
    this.source = source;
    this.templates = templates;
    this.bosToken = bosToken;
    this.eosToken = eosToken;
    this.unkToken = unkToken;
    this.padToken = padToken;
    this.addBosToken = addBosToken;
    this.stopIds = stopIds;
    this.stopTexts = stopTexts;
  }

  /** No template, no extra stop tokens. */
  public static ChatFormat none() {
    return NONE;
  }

  /**
   * Reads a Hugging Face folder's config files (see the class comment); absent files mean absent
   * values (a folder without any gives {@link #none()}-like values).
   *
   * @throws ModelFormatException naming the file when a present file is not valid JSON, or {@code
   *     chat_template} has the wrong shape
   */
  public static ChatFormat fromDirectory(Path dir) {
    Path cfgFile = dir.resolve("tokenizer_config.json");
    Map<String, Object> cfg = jsonObject(cfgFile);
    Map<String, JinjaChatTemplate> templates = new LinkedHashMap<>();
    Object t = cfg.get("chat_template");
    if (t instanceof String s) {
      templates.put("default", new JinjaChatTemplate("'default' of " + cfgFile, s));
    } else if (t instanceof List<?> list) {
      for (Object o : list) {
        if (!(o instanceof Map<?, ?> m) || !(m.get("name") instanceof String name) || !(m.get("template") instanceof String text)) {
          throw new ModelFormatException(cfgFile + ": chat_template: expected a string or a list of {\"name\", \"template\"}, found an entry " + o);
        }
        templates.put(name, new JinjaChatTemplate("'" + name + "' of " + cfgFile, text));
      }
    } else if (t != null) {
      throw new ModelFormatException(cfgFile + ": chat_template: expected a string or a list of {\"name\", \"template\"}");
    } else if (Files.isRegularFile(dir.resolve("chat_template.jinja"))) {
      Path f = dir.resolve("chat_template.jinja");
      try {
        templates.put("default", new JinjaChatTemplate("'default' of " + f, Files.readString(f, StandardCharsets.UTF_8)));
      } catch (IOException e) {
        throw new ModelFormatException(f + ": cannot read (" + e.getMessage() + ")", e);
      }
    }
    List<Integer> stops = new ArrayList<>();
    addIds(stops, jsonObject(dir.resolve("generation_config.json")).get("eos_token_id"));
    addIds(stops, jsonObject(dir.resolve("config.json")).get("eos_token_id"));
    return new ChatFormat(dir.toString(), java.util.Collections.unmodifiableMap(new LinkedHashMap<>(templates)), tokenText(cfg.get("bos_token")), tokenText(cfg.get("eos_token")),
        tokenText(cfg.get("unk_token")), tokenText(cfg.get("pad_token")), Boolean.TRUE.equals(cfg.get("add_bos_token")), List.copyOf(stops),
        endOfTurnTexts(templates));
  }

  /**
   * Reads a GGUF file's chat keys (see the class comment), from its already-parsed metadata.
   *
   * @throws ModelFormatException when a chat key has the wrong type
   */
  public static ChatFormat fromGguf(GgufFile g) {
    Map<String, JinjaChatTemplate> templates = new LinkedHashMap<>();
    String main = g.getString("tokenizer.chat_template");
    if (main != null) templates.put("default", new JinjaChatTemplate("'default' of " + g.fileName() + " (tokenizer.chat_template)", main));
    for (String key : new TreeSet<>(g.metadata().keySet())) {
      if (key.startsWith("tokenizer.chat_template.") && g.metadata().get(key) instanceof String s) {
        String name = key.substring("tokenizer.chat_template.".length());
        templates.put(name, new JinjaChatTemplate("'" + name + "' of " + g.fileName() + " (" + key + ")", s));
      }
    }
    String[] tokens = g.metadata().get("tokenizer.ggml.tokens") instanceof String[] a ? a : new String[0];
    List<Integer> stops = new ArrayList<>();
    for (String k : List.of("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id")) {
      if (g.has(k)) stops.add((int) g.getLong(k, null));
    }
    String bos = g.has("tokenizer.ggml.bos_token_id") ? tokenAt(tokens, g.getLong("tokenizer.ggml.bos_token_id", null)) : null;
    String eos = g.has("tokenizer.ggml.eos_token_id") ? tokenAt(tokens, g.getLong("tokenizer.ggml.eos_token_id", null)) : null;
    String unk = g.has("tokenizer.ggml.unknown_token_id") ? tokenAt(tokens, g.getLong("tokenizer.ggml.unknown_token_id", null)) : null;
    String pad = g.has("tokenizer.ggml.padding_token_id") ? tokenAt(tokens, g.getLong("tokenizer.ggml.padding_token_id", null)) : null;
    boolean addBos = !(g.metadata().get("tokenizer.ggml.add_bos_token") instanceof Boolean b) || b;
    return new ChatFormat(g.fileName(), java.util.Collections.unmodifiableMap(new LinkedHashMap<>(templates)), bos, eos, unk, pad, addBos, List.copyOf(stops), endOfTurnTexts(templates));
  }

  private static String tokenAt(String[] tokens, long id) {
    return id >= 0 && id < tokens.length ? tokens[(int) id] : null;
  }

  private static List<String> endOfTurnTexts(Map<String, JinjaChatTemplate> templates) {
    List<String> out = new ArrayList<>();
    for (String t : END_OF_TURN) {
      for (JinjaChatTemplate j : templates.values()) {
        if (j.source().contains(t)) {
          out.add(t);
          break;
        }
      }
    }
    return List.copyOf(out);
  }

  private static void addIds(List<Integer> out, Object v) {
    if (v instanceof Number n) {
      if (!out.contains(n.intValue())) out.add(n.intValue());
    } else if (v instanceof List<?> l) {
      for (Object o : l) addIds(out, o);
    }
  }

  private static String tokenText(Object v) {
    return v instanceof String s ? s : v instanceof Map<?, ?> m && m.get("content") instanceof String c ? c : null;
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> jsonObject(Path f) {
    if (!Files.isRegularFile(f)) return Map.of();
    try {
      Object o = Json.parse(Files.readString(f, StandardCharsets.UTF_8));
      if (!(o instanceof Map<?, ?>)) throw new ModelFormatException(f + ": expected a JSON object");
      return (Map<String, Object>) o;
    } catch (IOException e) {
      throw new ModelFormatException(f + ": cannot read (" + e.getMessage() + ")", e);
    } catch (ModelFormatException e) {
      throw e.getMessage().startsWith(f.toString()) ? e : new ModelFormatException(f + ": " + e.getMessage(), e);
    }
  }

  /** Whether the model has a chat template. */
  public boolean hasTemplate() {
    return !templates.isEmpty();
  }

  /** Names of its templates ({@code default} for a single one). */
  public List<String> templateNames() {
    return List.copyOf(templates.keySet());
  }

  /** Where it was read from (a folder or a GGUF file name), for messages. */
  public String source() {
    return source;
  }

  /** BOS text ({@code bos_token}), or null. */
  public String bosToken() {
    return bosToken;
  }

  /** EOS text ({@code eos_token}), or null. */
  public String eosToken() {
    return eosToken;
  }

  /** Whether the model's tokenizer adds BOS to a text (used only when the rendered text does not already start with it). */
  public boolean addBosToken() {
    return addBosToken;
  }

  /** Stop token ids from the config files (may repeat the tokenizer's EOS). */
  public List<Integer> stopIds() {
    return stopIds;
  }

  /** End-of-turn token texts its templates write. */
  public List<String> stopTexts() {
    return stopTexts;
  }

  /**
   * The template for a request with or without tools (see the class comment).
   *
   * @throws IllegalStateException when there is none ({@link #hasTemplate()} is false)
   * @throws ChatTemplateException when the templates are named but none is {@code default}
   */
  public JinjaChatTemplate template(boolean hasTools) {
    if (templates.isEmpty()) throw new IllegalStateException(source + " has no chat template");
    if (templates.size() == 1 && templates.containsKey("default")) return templates.get("default");
    if (hasTools && templates.containsKey("tool_use")) return templates.get("tool_use");
    JinjaChatTemplate d = templates.get("default");
    if (d == null) {
      if (templates.size() == 1) return templates.values().iterator().next();
      throw new ChatTemplateException("of " + source, 0, "it has several chat templates " + templates.keySet() + " and none is named 'default'", null);
    }
    return d;
  }

  /**
   * Renders {@code chat} with the model's template: variables {@code messages}, {@code tools},
   * {@code documents}, {@code add_generation_prompt}, {@code bos_token}, {@code eos_token}, {@code
   * unk_token}, {@code pad_token}, then the request's extra variables (which may override them).
   *
   * @throws ChatTemplateException when the template fails (names the template and the line)
   * @throws IllegalArgumentException when the input is not valid JSON of the expected shape
   * @throws IllegalStateException when there is no template
   */
  public String render(ChatInput chat) {
    return render(chat, null);
  }

  /**
   * As {@link #render(ChatInput)} with the template named {@code templateName} (null: chosen as
   * the class comment says).
   *
   * @throws IllegalArgumentException when there is no template of that name
   */
  public String render(ChatInput chat, String templateName) {
    Object tools = chat.tools();
    boolean hasTools = tools instanceof List<?> l && !l.isEmpty();
    Map<String, Object> vars = new LinkedHashMap<>();
    vars.put("messages", chat.messages());
    vars.put("tools", tools);
    vars.put("documents", chat.documents());
    vars.put("add_generation_prompt", chat.addGenerationPrompt());
    if (bosToken != null) vars.put("bos_token", bosToken);
    if (eosToken != null) vars.put("eos_token", eosToken);
    if (unkToken != null) vars.put("unk_token", unkToken);
    if (padToken != null) vars.put("pad_token", padToken);
    vars.putAll(chat.variables());
    JinjaChatTemplate t = templateName == null ? template(hasTools) : templates.get(templateName);
    if (t == null) throw new IllegalArgumentException(source + " has no chat template named '" + templateName + "'");
    return t.render(vars);
  }
}
