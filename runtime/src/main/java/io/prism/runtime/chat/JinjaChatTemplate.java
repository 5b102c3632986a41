package io.prism.runtime.chat;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.objects.date.StrftimeFormatter;
import java.time.ZonedDateTime;
import java.util.Map;
import jinjava.javax.el.CompositeELResolver;

/**
 * One Hugging Face chat template (a Jinja2 text), executed with Jinjava in an environment that
 * behaves as the one {@code transformers} renders chat templates in ({@code apply_chat_template}:
 * {@code trim_blocks} and {@code lstrip_blocks} on, the {@code loopcontrols} extension):
 *
 * <ul>
 *   <li>functions {@code raise_exception(message)} (fails the render with that message, a {@link
 *       ChatTemplateException}) and {@code strftime_now(format)} (local time, C {@code strftime}
 *       format);
 *   <li>filter {@code tojson} as Python's {@code json.dumps(x, ensure_ascii=False)} (optional
 *       {@code indent}; see {@link PythonJson}); filter {@code items} (a mapping's pairs); filter
 *       {@code py_slice} behind slice syntax ({@link PySlice});
 *   <li>Python string methods on strings and {@code dict.get(key, default)} ({@link PythonStrings});
 *   <li>{@code namespace(...)}, {@code loop.first/last/index0/...}, slices such as {@code
 *       messages[::-1]}, tests {@code defined}, {@code none}, {@code string}, and {@code {%- -%}}
 *       whitespace control are Jinjava's own.
 * </ul>
 *
 * <p>Known differences from Python Jinja: {@code str + None} gives {@code "...null"} where Python
 * raises; a macro parameter's default value must not contain a comma (Jinjava splits macro
 * parameters at every comma).
 *
 * <p>Parsing happens on every render (Jinjava caches nothing across calls); a typical template
 * renders in well under a millisecond after warm-up. Threading: immutable; any thread (each render
 * has its own interpreter).
 */
public final class JinjaChatTemplate {
  private static final long MAX_OUTPUT_CHARS = 16L << 20;
  private static final Jinjava JINJAVA = newJinjava();

  private final String name;
  private final String source;
  private final String normalized;

  /**
   * @param name the template's name and where it came from, for errors (e.g. {@code "'default' of
   *     /models/qwen3/tokenizer_config.json"})
   * @param source the Jinja text
   * @throws IllegalArgumentException when {@code source} is null or blank
   */
  public JinjaChatTemplate(String name, String source) {
    if (source == null || source.isBlank()) throw new IllegalArgumentException("chat template " + name + " is empty");
    this.name = name;
    this.source = source;
    this.normalized = JinjaSource.normalize(source);
  }

  /** The name given at construction. */
  public String name() {
    return name;
  }

  /** The Jinja text. */
  public String source() {
    return source;
  }

  /**
   * Renders the template.
   *
   * @param variables {@code messages}, {@code tools}, {@code documents}, {@code
   *     add_generation_prompt}, {@code bos_token}, ... as plain Java values (maps, lists, strings,
   *     numbers, booleans, null)
   * @return the rendered text
   * @throws ChatTemplateException naming this template and the line, when the template does not
   *     parse, calls {@code raise_exception}, or fails while rendering
   */
  public String render(Map<String, ?> variables) {
    RenderResult r;
    try {
      r = JINJAVA.renderForResult(normalized, variables);
    } catch (RuntimeException e) {
      Raised raised = raised(e);
      if (raised != null) throw new ChatTemplateException(name, raised.line, raised.getMessage(), e);
      throw new ChatTemplateException(name, 0, String.valueOf(e.getMessage()), e);
    }
    for (TemplateError e : r.getErrors()) {
      if (e.getSeverity() != TemplateError.ErrorType.FATAL) continue;
      Raised raised = raised(e.getException());
      String reason = raised != null ? raised.getMessage() : e.getMessage();
      int line = raised != null && raised.line > 0 ? raised.line : Math.max(0, e.getLineno());
      throw new ChatTemplateException(name, line, reason, e.getException());
    }
    return r.getOutput();
  }

  private static Raised raised(Throwable t) {
    for (int depth = 0; t != null && depth < 16; depth++, t = t.getCause()) {
      if (t instanceof Raised r) return r;
    }
    return null;
  }

  /** What {@code raise_exception} throws; turned into a {@link ChatTemplateException}. */
  static final class Raised extends RuntimeException {
    /** Line being rendered when it was raised (the interpreter's), 0 when unknown. */
    final int line;

    Raised(String message, int line) {
      super(message, null, false, false);
      this.line = line;
    }
  }

  /** {@code raise_exception(message)} of Hugging Face's template environment. */
  public static Object raiseException(Object message) {
    int line = JinjavaInterpreter.getCurrentMaybe().map(JinjavaInterpreter::getLineNumber).orElse(0);
    throw new Raised(String.valueOf(message), line);
  }

  /** {@code raise_exception(message)} at source line {@code line} (see {@link JinjaSource}). */
  public static Object raiseExceptionAt(long line, Object message) {
    throw new Raised(String.valueOf(message), (int) line);
  }

  /** {@code strftime_now(format)} of Hugging Face's template environment: local time, C format. */
  public static String strftimeNow(String format) {
    return StrftimeFormatter.format(ZonedDateTime.now(), format);
  }

  private static Jinjava newJinjava() {
    CompositeELResolver resolver = new CompositeELResolver();
    resolver.add(new PythonStrings());
    resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
    LegacyOverrides python = LegacyOverrides.newBuilder()
        .withIterateOverMapKeys(true)
        .withUseNaturalOperatorPrecedence(true)
        .withParseWhitespaceControlStrictly(true)
        .withUseTrimmingForNotesAndExpressions(true)
        .withKeepNullableLoopValues(true)
        .withUsePyishObjectMapper(true)
        .build();
    JinjavaConfig config = JinjavaConfig.newBuilder()
        .withTrimBlocks(true)
        .withLstripBlocks(false) // applied by JinjaSource, as Python does it
        .withElResolver(resolver)
        .withLegacyOverrides(python)
        .withMaxOutputSize(MAX_OUTPUT_CHARS)
        .withFailOnUnknownTokens(false)
        .build();
    Jinjava j = new Jinjava(config);
    j.registerFunction(new ELFunctionDefinition("", "raise_exception", JinjaChatTemplate.class, "raiseException", Object.class));
    j.registerFunction(new ELFunctionDefinition("", "raise_exception_at", JinjaChatTemplate.class, "raiseExceptionAt", long.class, Object.class));
    j.registerFunction(new ELFunctionDefinition("", "strftime_now", JinjaChatTemplate.class, "strftimeNow", String.class));
    j.registerFilter(new ToJson());
    j.registerFilter(new PySlice());
    j.registerFilter(new Items());
    return j;
  }

  /** {@code items} (Jinja 3.1): a mapping's (key, value) pairs, for {@code for k, v in d | items}. */
  private static final class Items implements Filter {
    @Override
    public String getName() {
      return "items";
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
      if (var == null) return java.util.List.of();
      if (!(var instanceof Map<?, ?> m)) throw new IllegalArgumentException("items expects a mapping, got " + var.getClass().getSimpleName());
      return new java.util.ArrayList<>(m.entrySet());
    }
  }

  /** {@code tojson} as Python's {@code json.dumps(value, ensure_ascii=False, indent=indent)}. */
  private static final class ToJson implements Filter {
    @Override
    public String getName() {
      return "tojson";
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
      return PythonJson.dumps(var, args.length > 0 && args[0] != null ? Integer.parseInt(args[0].trim()) : -1);
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
      Object indent = kwargs.containsKey("indent") ? kwargs.get("indent") : args.length > 0 ? args[0] : null;
      return PythonJson.dumps(var, indent instanceof Number n ? n.intValue() : indent == null ? -1 : Integer.parseInt(indent.toString().trim()));
    }
  }
}
