package io.prism.runtime.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The Python-Jinja behaviours Hugging Face templates rely on, one by one, under Jinjava. */
class JinjaChatTemplateTest {
  private static String render(String template, Map<String, Object> vars) {
    return new JinjaChatTemplate("'t'", template).render(vars);
  }

  private static String render(String template) {
    return render(template, new HashMap<>());
  }

  @Test
  void raiseExceptionNamesTemplateLineAndMessage() {
    ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> render("a\n{% if true %}\n{{ raise_exception('no system role') }}\n{% endif %}"));
    assertEquals("no system role", e.reason());
    assertEquals(3, e.line());
    assertEquals("chat template 't', line 3: no system role", e.getMessage());
  }

  @Test
  void syntaxErrorIsATypedError() {
    ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> render("line 1\n{{ (1 + }}"));
    assertTrue(e.getMessage().startsWith("chat template 't', line 2: "), e.getMessage());
  }

  @Test
  void pythonStringMethods() {
    Map<String, Object> v = new HashMap<>(Map.of("s", "  <think>\nA</think>\n\nB  "));
    assertEquals("<think>\nA</think>\n\nB", render("{{ s.strip() }}", v));
    assertEquals("B  ", render("{{ s.split('</think>')[-1].lstrip('\\n') }}", v));
    assertEquals("A", render("{{ s.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}", v));
    assertEquals("true false", render("{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith('b') }}"));
    assertEquals("ABC abc X-y Hello World", render("{{ 'abc'.upper() }} {{ 'ABC'.lower() }} {{ 'x-y'.replace('x', 'X') }} {{ 'hello world'.title() }}"));
    assertEquals("['a', 'b', 'c']", render("{{ ' a  b c '.split() }}"));
    assertEquals("a|b", render("{{ '|'.join(['a', 'b']) }}"));
  }

  @Test
  void slicesFollowPython() {
    Map<String, Object> v = new HashMap<>(Map.of("xs", List.of(1, 2, 3, 4)));
    assertEquals("4321", render("{% for x in xs[::-1] %}{{ x }}{% endfor %}", v));
    assertEquals("234", render("{% for x in xs[1:] %}{{ x }}{% endfor %}", v));
    assertEquals("13", render("{% for x in xs[::2] %}{{ x }}{% endfor %}", v));
    assertEquals("cba", render("{{ 'abc'[::-1] }}"));
    assertEquals("ab", render("{{ 'abc'[:-1] }}"));
  }

  @Test
  void namespaceLoopAndTests() {
    Map<String, Object> v = new HashMap<>(Map.of("xs", List.of("a", "b", "c")));
    assertEquals("2", render("{% set ns = namespace(last=xs|length - 1) %}{{ ns.last }}", v));
    assertEquals("a0F b1 c2L", render("{% for x in xs %}{{ x }}{{ loop.index0 }}{% if loop.first %}F{% endif %}{% if loop.last %}L{% endif %}"
        + "{% if not loop.last %} {% endif %}{% endfor %}", v));
    assertEquals("yes", render("{% if not missing is defined %}yes{% endif %}"));
    assertEquals("none", render("{% set x = none %}{% if x is none %}none{% endif %}"));
    assertEquals("str", render("{% if 'a' is string %}str{% endif %}"));
    assertEquals("x", render("{%- if true -%}\n  x  \n{%- endif -%}"));
  }

  @Test
  void toJsonWritesPythonJsonDumps() {
    Map<String, Object> tool = new java.util.LinkedHashMap<>();
    tool.put("name", "f");
    tool.put("n", 18L);
    tool.put("x", 1.5);
    tool.put("list", List.of("é", "\"q\""));
    Map<String, Object> v = new HashMap<>(Map.of("t", tool));
    assertEquals("{\"name\": \"f\", \"n\": 18, \"x\": 1.5, \"list\": [\"é\", \"\\\"q\\\"\"]}", render("{{ t | tojson }}", v));
    assertEquals("{\n  \"name\": \"f\",\n  \"n\": 18,\n  \"x\": 1.5,\n  \"list\": [\n    \"é\",\n    \"\\\"q\\\"\"\n  ]\n}", render("{{ t | tojson(indent=2) }}", v));
  }

  @Test
  void strftimeNowFormatsTheCurrentDate() {
    String year = render("{{ strftime_now('%Y') }}");
    assertEquals(String.valueOf(java.time.LocalDate.now().getYear()), year);
  }

  @Test
  void dictGetWithDefault() {
    Map<String, Object> v = new HashMap<>(Map.of("m", Map.of("a", "1")));
    assertEquals("1 z", render("{{ m.get('a', 'y') }} {{ m.get('b', 'z') }}", v));
  }

  @Test
  void constructsOfOtherFamiliesTemplates() {
    Map<String, Object> v = new HashMap<>();
    v.put("messages", List.of(Map.of("role", "user", "content", "  hi  "), Map.of("role", "assistant", "content", "yo")));
    // Gemma: a filter binds tighter than +
    assertEquals("<u>hi</u>", render("{{ '<u>' + messages[0]['content'] | trim + '</u>' }}", v));
    // Mistral: role alternation by loop index parity
    assertEquals("ok", render("{%- for m in messages %}{%- if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        + "{{- raise_exception('roles must alternate') }}{%- endif %}{%- endfor %}ok", v));
    // Llama 3.1: drop the first message with a slice in a set, date via strftime_now
    assertEquals("1 assistant", render("{%- set messages = messages[1:] %}{{ messages|length }} {{ messages[0].role }}", v));
    // Llama 3.2: iterate a dict's items with two loop variables
    v.put("args", new java.util.LinkedHashMap<>(Map.of("city", "Paris")));
    assertEquals("city=Paris;", render("{%- for k, val in args | items %}{{ k }}={{ val }};{%- endfor %}", v));
    assertEquals("city=Paris;", render("{%- for k, val in args.items() %}{{ k }}={{ val }};{%- endfor %}", v));
    // loop controls
    assertEquals("a", render("{%- for m in messages %}{%- if loop.index0 == 1 %}{% break %}{% endif %}a{%- endfor %}", v));
  }

  @Test
  void macrosWithDefaultArgumentsAndCallsWithKeywords() {
    // (Jinjava splits macro parameters at every comma: a default value must not contain one)
    assertEquals("a & b;", render("{%- macro join2(x, y, sep=' & ') -%}{{ x }}{{ sep }}{{ y }}{%- endmacro -%}{{ join2('a', 'b') }};"));
    assertEquals("a|b;", render("{%- macro join2(x, y, sep=' & ') -%}{{ x }}{{ sep }}{{ y }}{%- endmacro -%}{{ join2('a', 'b', sep='|') }};"));
    assertEquals("x == y", render("{% if 1 == 1 and 2 != 3 and 1 <= 2 %}x == y{% endif %}"));
  }
}
