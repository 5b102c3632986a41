package io.prism.runtime.chat;

import java.beans.FeatureDescriptor;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

/**
 * The Python {@code str} methods that Hugging Face chat templates call on strings ({@code
 * message.content.strip()}, {@code .split('</think>')[-1]}, {@code .startswith('<tool_response>')}),
 * and {@code dict.get(key, default)}, for Jinjava, whose expression language otherwise only calls
 * Java methods. An {@link ELResolver} placed before Jinjava's own: it resolves a method call whose
 * base is a {@link CharSequence} (or a {@link Map} for {@code get} with two arguments) and leaves
 * everything else to the next resolver. Semantics follow the Python 3 documentation of the
 * built-in {@code str} type (whitespace is {@link Character#isWhitespace} or a non-breaking space).
 *
 * <p>Methods: {@code strip, lstrip, rstrip} (optional set of characters), {@code split, rsplit}
 * (optional separator and maxsplit), {@code splitlines, startswith, endswith} (a prefix or a list
 * of them), {@code upper, lower, title, capitalize, replace} (optional count), {@code find, count,
 * join, isspace, isdigit, isalpha}. Read-only; stateless; any thread.
 */
final class PythonStrings extends ELResolver {
  @Override
  public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
    if (method == null) return null;
    Object[] a = params == null ? new Object[0] : params;
    if (base instanceof Map<?, ?> m && "get".equals(method.toString()) && a.length == 2) {
      context.setPropertyResolved(true);
      return m.containsKey(a[0]) ? m.get(a[0]) : a[1];
    }
    if (!(base instanceof CharSequence cs)) return null;
    String s = cs.toString();
    Object out;
    switch (method.toString()) {
      case "strip" -> out = rstrip(lstrip(s, chars(a)), chars(a));
      case "lstrip" -> out = lstrip(s, chars(a));
      case "rstrip" -> out = rstrip(s, chars(a));
      case "split" -> out = split(s, a.length > 0 ? str(a[0]) : null, a.length > 1 ? integer(a[1]) : -1);
      case "rsplit" -> out = rsplit(s, a.length > 0 ? str(a[0]) : null, a.length > 1 ? integer(a[1]) : -1);
      case "splitlines" -> out = new ArrayList<>(List.of(s.split("\r\n|\r|\n", -1))).subList(0, s.isEmpty() ? 0 : countLines(s));
      case "startswith" -> out = affix(s, a, true);
      case "endswith" -> out = affix(s, a, false);
      case "upper" -> out = s.toUpperCase(Locale.ROOT);
      case "lower" -> out = s.toLowerCase(Locale.ROOT);
      case "title" -> out = title(s);
      case "capitalize" -> out = s.isEmpty() ? s : s.substring(0, 1).toUpperCase(Locale.ROOT) + s.substring(1).toLowerCase(Locale.ROOT);
      case "replace" -> out = replace(s, str(a[0]), str(a[1]), a.length > 2 ? integer(a[2]) : -1);
      case "find" -> out = s.indexOf(str(a[0]));
      case "count" -> out = count(s, str(a[0]));
      case "join" -> out = join(s, a[0]);
      case "isspace" -> out = !s.isEmpty() && s.chars().allMatch(PythonStrings::isSpace);
      case "isdigit" -> out = !s.isEmpty() && s.chars().allMatch(Character::isDigit);
      case "isalpha" -> out = !s.isEmpty() && s.chars().allMatch(Character::isLetter);
      default -> {
        return null;
      }
    }
    context.setPropertyResolved(true);
    return out;
  }

  private static String chars(Object[] a) {
    return a.length == 0 || a[0] == null ? null : str(a[0]);
  }

  private static String str(Object o) {
    if (o == null) throw new IllegalArgumentException("expected a string, got None");
    return o.toString();
  }

  private static int integer(Object o) {
    if (o instanceof Number n) return n.intValue();
    throw new IllegalArgumentException("expected an integer, got " + o);
  }

  static boolean isSpace(int c) {
    return Character.isWhitespace(c) || c == '\u00a0' || c == '\u2007' || c == '\u202f' || c == '\u0085';
  }

  private static boolean strippable(char c, String chars) {
    return chars == null ? isSpace(c) : chars.indexOf(c) >= 0;
  }

  static String lstrip(String s, String chars) {
    int i = 0;
    while (i < s.length() && strippable(s.charAt(i), chars)) i++;
    return s.substring(i);
  }

  static String rstrip(String s, String chars) {
    int j = s.length();
    while (j > 0 && strippable(s.charAt(j - 1), chars)) j--;
    return s.substring(0, j);
  }

  /** Python's {@code str.split}: on runs of whitespace (no empty parts) without a separator. */
  static List<String> split(String s, String sep, int maxsplit) {
    List<String> out = new ArrayList<>();
    if (sep == null) {
      int i = 0, n = s.length();
      while (true) {
        while (i < n && isSpace(s.charAt(i))) i++;
        if (i >= n) break;
        if (maxsplit >= 0 && out.size() == maxsplit) {
          out.add(rstrip(s.substring(i), null));
          break;
        }
        int j = i;
        while (j < n && !isSpace(s.charAt(j))) j++;
        out.add(s.substring(i, j));
        i = j;
      }
      return out;
    }
    if (sep.isEmpty()) throw new IllegalArgumentException("empty separator");
    int from = 0;
    while (maxsplit < 0 || out.size() < maxsplit) {
      int k = s.indexOf(sep, from);
      if (k < 0) break;
      out.add(s.substring(from, k));
      from = k + sep.length();
    }
    out.add(s.substring(from));
    return out;
  }

  static List<String> rsplit(String s, String sep, int maxsplit) {
    if (sep == null || maxsplit < 0) return split(s, sep, maxsplit);
    if (sep.isEmpty()) throw new IllegalArgumentException("empty separator");
    List<String> out = new ArrayList<>();
    int to = s.length();
    while (out.size() < maxsplit) {
      int k = s.lastIndexOf(sep, to - sep.length());
      if (k < 0 || to - sep.length() < 0) break;
      out.add(0, s.substring(k + sep.length(), to));
      to = k;
    }
    out.add(0, s.substring(0, to));
    return out;
  }

  private static int countLines(String s) {
    int n = s.split("\r\n|\r|\n", -1).length;
    return s.endsWith("\n") || s.endsWith("\r") ? n - 1 : n;
  }

  private static boolean affix(String s, Object[] a, boolean prefix) {
    if (a.length == 0) throw new IllegalArgumentException((prefix ? "startswith" : "endswith") + " takes a string or a tuple of strings");
    Collection<?> options = a[0] instanceof Collection<?> c ? c : a[0] instanceof Object[] arr ? List.of(arr) : List.of(str(a[0]));
    for (Object o : options) {
      String x = str(o);
      if (prefix ? s.startsWith(x) : s.endsWith(x)) return true;
    }
    return false;
  }

  /** Python's {@code str.title}: a letter after a non-letter is upper case, other letters lower. */
  static String title(String s) {
    StringBuilder sb = new StringBuilder(s.length());
    boolean previousCased = false;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      sb.append(previousCased ? Character.toLowerCase(c) : Character.toUpperCase(c));
      previousCased = Character.isLetter(c);
    }
    return sb.toString();
  }

  private static String replace(String s, String old, String with, int count) {
    if (count < 0) return s.replace(old, with);
    StringBuilder sb = new StringBuilder();
    int from = 0;
    for (int done = 0; done < count; done++) {
      int k = s.indexOf(old, from);
      if (k < 0) break;
      sb.append(s, from, k).append(with);
      from = k + old.length();
      if (old.isEmpty()) {
        if (from < s.length()) sb.append(s.charAt(from));
        from++;
      }
    }
    if (from <= s.length()) sb.append(s.substring(Math.min(from, s.length())));
    return sb.toString();
  }

  private static int count(String s, String x) {
    if (x.isEmpty()) return s.length() + 1;
    int n = 0;
    for (int k = s.indexOf(x); k >= 0; k = s.indexOf(x, k + x.length())) n++;
    return n;
  }

  private static String join(String sep, Object items) {
    Iterable<?> it = items instanceof Iterable<?> i ? i : items instanceof Object[] arr ? List.of(arr) : null;
    if (it == null) throw new IllegalArgumentException("join expects a list of strings");
    StringBuilder sb = new StringBuilder();
    boolean first = true;
    for (Object o : it) {
      if (!first) sb.append(sep);
      first = false;
      sb.append(str(o));
    }
    return sb.toString();
  }

  @Override
  public Class<?> getCommonPropertyType(ELContext context, Object base) {
    return null;
  }

  @Override
  public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
    return null;
  }

  @Override
  public Class<?> getType(ELContext context, Object base, Object property) {
    return null;
  }

  @Override
  public Object getValue(ELContext context, Object base, Object property) {
    return null;
  }

  @Override
  public boolean isReadOnly(ELContext context, Object base, Object property) {
    return true;
  }

  @Override
  public void setValue(ELContext context, Object base, Object property, Object value) {}
}
