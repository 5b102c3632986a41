package io.prism.runtime.chat;

import java.util.ArrayList;
import java.util.List;

/**
 * Source rewrites that make Python-Jinja chat templates mean the same under Jinjava, applied once
 * before rendering. Each rewrite changes only the inside of {@code {{ }}} and {@code {% %}} tags,
 * never text or string literals, and keeps line breaks (so error lines still match the source):
 *
 * <ul>
 *   <li>Keyword-argument values are parenthesised: {@code namespace(last=messages|length - 1)}
 *       becomes {@code namespace(last=(messages|length - 1))}. Jinjava binds the {@code name=} of
 *       a keyword argument tighter than a filter or an operator in its value, so without this the
 *       value would be {@code (last=messages|length) - 1} and fail.
 *   <li>Python slices become a filter: {@code messages[::-1]} becomes {@code
 *       (messages|py_slice(none,none,-1))} ({@code a[1:]}, {@code s[:-2]} alike), since Jinjava's
 *       expression language has no slice syntax. The filter ({@link PySlice}) follows Python's
 *       slice semantics on lists and strings.
 *   <li>{@code not x is defined} becomes {@code not (x is defined)}: in Python Jinja a test binds
 *       tighter than {@code not}, in Jinjava the other way round (DeepSeek-V3's template opens with
 *       {@code {% if not add_generation_prompt is defined %}}).
 *
 *   <li>{@code raise_exception(message)} becomes {@code raise_exception_at(LINE, message)}, so the
 *       error names the line of the call (Jinjava's own line numbers drift under whitespace
 *       control).
 *   <li>Python's {@code lstrip_blocks} is applied here (Jinjava's also strips spaces before a block
 *       tag in the middle of a line, which Python does not).
 * </ul>
 *
 * <p>Stateless.
 */
final class JinjaSource {
  private JinjaSource() {}

  /** {@code source} with the rewrites above. */
  static String normalize(String source) {
    StringBuilder out = new StringBuilder(source.length() + 64);
    int i = 0, n = source.length();
    while (i < n) {
      int open = nextTag(source, i);
      if (open < 0) {
        out.append(source, i, n);
        break;
      }
      out.append(source, i, open);
      if (source.charAt(open + 1) == '%' && !source.startsWith("{%+", open)) lstrip(out);
      out.append(source, open, open + 2);
      String close = source.charAt(open + 1) == '{' ? "}}" : "%}";
      int end = tagEnd(source, open + 2, close);
      String raw = source.substring(open + 2, end);
      String body = isMacroDefinition(raw) ? raw : rewriteTag(rewriteNotIs(rewriteSlices(raw)));
      out.append(markRaises(body, 1 + newlines(source, open)));
      i = end;
    }
    return out.toString();
  }

  private static int nextTag(String s, int from) {
    int a = s.indexOf("{{", from), b = s.indexOf("{%", from);
    int c = s.indexOf("{#", from);
    int first = min(a, b);
    if (c >= 0 && (first < 0 || c < first)) { // skip a comment
      int end = s.indexOf("#}", c + 2);
      return end < 0 ? -1 : nextTag(s, end + 2);
    }
    return first;
  }

  /** Whether a tag body is {@code macro name(params)}: Jinjava parses macro parameters itself. */
  private static boolean isMacroDefinition(String body) {
    String b = body.strip();
    if (b.startsWith("-") || b.startsWith("+")) b = b.substring(1).strip();
    return b.startsWith("macro ");
  }

  /** Python Jinja's {@code lstrip_blocks}: spaces and tabs between a line's start and a block tag go. */
  private static void lstrip(StringBuilder out) {
    int k = out.length();
    while (k > 0 && (out.charAt(k - 1) == ' ' || out.charAt(k - 1) == '\t')) k--;
    if (k == 0 || out.charAt(k - 1) == '\n') out.setLength(k);
  }

  private static int newlines(String s, int end) {
    int n = 0;
    for (int i = 0; i < end; i++) if (s.charAt(i) == '\n') n++;
    return n;
  }

  private static final java.util.regex.Pattern RAISE = java.util.regex.Pattern.compile("\\braise_exception\\s*\\(");

  /** {@code raise_exception(} into {@code raise_exception_at(LINE, } so the error names its source line. */
  static String markRaises(String body, int firstLine) {
    if (!body.contains("raise_exception")) return body;
    StringBuilder out = new StringBuilder();
    java.util.regex.Matcher m = RAISE.matcher(body);
    int last = 0;
    while (m.find()) {
      if (insideString(body, m.start())) continue;
      int line = firstLine;
      for (int k = 0; k < m.start(); k++) if (body.charAt(k) == '\n') line++;
      out.append(body, last, m.start()).append("raise_exception_at(").append(line).append(", ");
      last = m.end();
    }
    return out.append(body.substring(last)).toString();
  }

  private static int min(int a, int b) {
    return a < 0 ? b : b < 0 ? a : Math.min(a, b);
  }

  /** Index of {@code close} ending the tag whose body starts at {@code from}, skipping string literals. */
  private static int tagEnd(String s, int from, String close) {
    char quote = 0;
    for (int i = from; i < s.length(); i++) {
      char c = s.charAt(i);
      if (quote != 0) {
        if (c == '\\') i++;
        else if (c == quote) quote = 0;
      } else if (c == '\'' || c == '"') {
        quote = c;
      } else if (s.startsWith(close, i)) {
        return i;
      }
    }
    return s.length();
  }

  private static final java.util.regex.Pattern NOT_IS = java.util.regex.Pattern.compile(
      "\\bnot\\s+([A-Za-z_][\\w.]*(?:\\[[^\\]]*\\])*)\\s+is\\s+((?:not\\s+)?[A-Za-z_]\\w*)");

  /** {@code not x is test} into {@code not (x is test)} (outside string literals). */
  static String rewriteNotIs(String body) {
    if (!body.contains("not") || !body.contains(" is ")) return body;
    StringBuilder out = new StringBuilder();
    java.util.regex.Matcher m = NOT_IS.matcher(body);
    int last = 0;
    while (m.find()) {
      if (insideString(body, m.start())) continue;
      out.append(body, last, m.start()).append("not (").append(m.group(1)).append(" is ").append(m.group(2)).append(')');
      last = m.end();
    }
    return out.append(body.substring(last)).toString();
  }

  private static boolean insideString(String s, int at) {
    char quote = 0;
    for (int i = 0; i < at; i++) {
      char c = s.charAt(i);
      if (quote != 0) {
        if (c == '\\') i++;
        else if (c == quote) quote = 0;
      } else if (c == '\'' || c == '"') {
        quote = c;
      }
    }
    return quote != 0;
  }

  /** Rewrites every {@code primary[a:b:c]} of one tag body into {@code (primary|py_slice(a,b,c))}. */
  static String rewriteSlices(String body) {
    String s = body;
    for (int guard = 0; guard < 64; guard++) {
      int[] slice = findSlice(s);
      if (slice == null) return s;
      int open = slice[0], close = slice[1];
      int start = primaryStart(s, open);
      List<String> parts = splitTopLevel(s.substring(open + 1, close), ':');
      StringBuilder args = new StringBuilder();
      for (int k = 0; k < 3; k++) {
        String p = k < parts.size() ? parts.get(k).trim() : "";
        if (k > 0) args.append(',');
        args.append(p.isEmpty() ? "none" : p);
      }
      s = s.substring(0, start) + "(" + s.substring(start, open) + "|py_slice(" + args + "))" + s.substring(close + 1);
    }
    return s;
  }

  /** The innermost-first {@code [ ... ]} with a top-level colon that follows an expression: {open, close}, or null. */
  private static int[] findSlice(String s) {
    char quote = 0;
    java.util.ArrayDeque<Integer> opens = new java.util.ArrayDeque<>();
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (quote != 0) {
        if (c == '\\') i++;
        else if (c == quote) quote = 0;
        continue;
      }
      if (c == '\'' || c == '"') {
        quote = c;
      } else if (c == '[' || c == '(' || c == '{') {
        opens.push(i);
      } else if ((c == ']' || c == ')' || c == '}') && !opens.isEmpty()) {
        int open = opens.pop();
        if (c == ']' && s.charAt(open) == '[' && splitTopLevel(s.substring(open + 1, i), ':').size() > 1 && followsExpression(s, open)) {
          return new int[] {open, i};
        }
      }
    }
    return null;
  }

  private static boolean followsExpression(String s, int open) {
    int j = open - 1;
    while (j >= 0 && s.charAt(j) == ' ') j--;
    if (j < 0) return false;
    char c = s.charAt(j);
    return Character.isLetterOrDigit(c) || c == '_' || c == ')' || c == ']' || c == '\'' || c == '"';
  }

  /** Start of the postfix expression (name, attribute and index chain, call) that ends just before {@code end}. */
  private static int primaryStart(String s, int end) {
    int j = end - 1;
    while (j >= 0 && s.charAt(j) == ' ') j--;
    while (j >= 0) {
      char c = s.charAt(j);
      if (c == ')' || c == ']') {
        int depth = 0;
        for (; j >= 0; j--) {
          char d = s.charAt(j);
          if (d == ')' || d == ']') depth++;
          else if ((d == '(' || d == '[') && --depth == 0) break;
        }
        j--;
      } else if (c == '\'' || c == '"') {
        j = s.lastIndexOf(c, j - 1) - 1;
      } else if (Character.isLetterOrDigit(c) || c == '_' || c == '.') {
        j--;
      } else {
        break;
      }
    }
    return j + 1;
  }

  /** {@code text} split at {@code sep} outside brackets and string literals. */
  private static List<String> splitTopLevel(String text, char sep) {
    List<String> out = new ArrayList<>();
    int depth = 0, from = 0;
    char quote = 0;
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (quote != 0) {
        if (c == '\\') i++;
        else if (c == quote) quote = 0;
      } else if (c == '\'' || c == '"') {
        quote = c;
      } else if (c == '(' || c == '[' || c == '{') {
        depth++;
      } else if (c == ')' || c == ']' || c == '}') {
        depth--;
      } else if (c == sep && depth == 0) {
        out.add(text.substring(from, i));
        from = i + 1;
      }
    }
    out.add(text.substring(from));
    return out;
  }

  /** Parenthesises each keyword-argument value inside calls of one tag body. */
  static String rewriteTag(String body) {
    StringBuilder out = new StringBuilder(body.length() + 8);
    // depth of parentheses/brackets; for each open paren whether a kwarg value is open in it
    int[] kwargOpenAt = new int[64];
    char[] stack = new char[64];
    int depth = 0;
    char quote = 0;
    for (int i = 0; i < body.length(); i++) {
      char c = body.charAt(i);
      if (quote != 0) {
        out.append(c);
        if (c == '\\' && i + 1 < body.length()) out.append(body.charAt(++i));
        else if (c == quote) quote = 0;
        continue;
      }
      switch (c) {
        case '\'', '"' -> {
          quote = c;
          out.append(c);
        }
        case '(', '[', '{' -> {
          if (depth < stack.length) {
            stack[depth] = c;
            kwargOpenAt[depth] = 0;
          }
          depth++;
          out.append(c);
        }
        case ')', ']', '}' -> {
          if (depth > 0) {
            depth--;
            if (depth < stack.length && kwargOpenAt[depth] == 1) {
              out.append(')');
              kwargOpenAt[depth] = 0;
            }
          }
          out.append(c);
        }
        case ',' -> {
          if (depth > 0 && depth - 1 < stack.length && kwargOpenAt[depth - 1] == 1) {
            out.append(')');
            kwargOpenAt[depth - 1] = 0;
          }
          out.append(c);
        }
        case '=' -> {
          boolean comparison = (i + 1 < body.length() && body.charAt(i + 1) == '=')
              || (i > 0 && "=!<>".indexOf(body.charAt(i - 1)) >= 0);
          out.append(c);
          if (!comparison && depth > 0 && depth - 1 < stack.length && stack[depth - 1] == '(' && kwargOpenAt[depth - 1] == 0
              && precededByName(body, i)) {
            out.append('(');
            kwargOpenAt[depth - 1] = 1;
          } else if (comparison && i + 1 < body.length() && body.charAt(i + 1) == '=') {
            out.append(body.charAt(++i));
          }
        }
        default -> out.append(c);
      }
    }
    return out.toString();
  }

  /** Whether the text before {@code body[eq]} (spaces skipped) is an identifier that starts an argument. */
  private static boolean precededByName(String body, int eq) {
    int j = eq - 1;
    while (j >= 0 && body.charAt(j) == ' ') j--;
    int end = j;
    while (j >= 0 && (Character.isLetterOrDigit(body.charAt(j)) || body.charAt(j) == '_')) j--;
    if (end == j) return false;
    int k = j;
    while (k >= 0 && Character.isWhitespace(body.charAt(k))) k--;
    return k >= 0 && (body.charAt(k) == '(' || body.charAt(k) == ',');
  }
}
