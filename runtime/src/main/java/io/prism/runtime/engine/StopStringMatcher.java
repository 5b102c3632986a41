package io.prism.runtime.engine;

import java.util.List;

/**
 * Text-level stop strings for one sequence (OpenAI / vLLM semantics): generation ends before the
 * first occurrence of any stop string, which is not emitted. Text that could still be the start of
 * a stop string is held back until it either completes one (dropped) or cannot any more (emitted).
 *
 * <pre>
 *   stop "END", text arrives as "abc E" "N" "x"
 *   append("abc E") -> "abc "   (holds "E")
 *   append("N")     -> ""       (holds "EN")
 *   append("x")     -> "ENx"    (no stop string can start in it)
 * </pre>
 *
 * <p>Not thread-safe: one instance per sequence.
 */
final class StopStringMatcher {
  private final List<String> stops;
  private final StringBuilder held = new StringBuilder();
  private boolean stopped;

  StopStringMatcher(List<String> stops) {
    this.stops = stops;
  }

  /** Whether a stop string has been seen; nothing is emitted after it. */
  boolean stopped() {
    return stopped;
  }

  /** Adds generated text; returns the text that is now safe to emit (possibly empty). */
  String append(String text) {
    if (stopped) return "";
    if (stops.isEmpty()) return text;
    held.append(text);
    int first = -1;
    for (String s : stops) {
      int at = held.indexOf(s);
      if (at >= 0 && (first < 0 || at < first)) first = at;
    }
    if (first >= 0) {
      String out = held.substring(0, first);
      held.setLength(0);
      stopped = true;
      return out;
    }
    int keep = 0;
    for (String s : stops) {
      for (int k = Math.min(s.length() - 1, held.length()); k > keep; k--) {
        if (endsWithPrefix(held, s, k)) {
          keep = k;
          break;
        }
      }
    }
    String out = held.substring(0, held.length() - keep);
    held.delete(0, held.length() - keep);
    return out;
  }

  /** Whether {@code text} ends with the first {@code k} characters of {@code stop}. */
  private static boolean endsWithPrefix(StringBuilder text, String stop, int k) {
    int from = text.length() - k;
    for (int i = 0; i < k; i++) {
      if (text.charAt(from + i) != stop.charAt(i)) return false;
    }
    return true;
  }

  /** Ends the text: returns whatever is held back (it completed no stop string). */
  String flush() {
    String out = held.toString();
    held.setLength(0);
    return out;
  }
}
