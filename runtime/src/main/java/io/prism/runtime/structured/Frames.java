package io.prism.runtime.structured;

import io.prism.runtime.structured.GrammarNode.Arr;
import io.prism.runtime.structured.GrammarNode.Lit;
import io.prism.runtime.structured.GrammarNode.Num;
import io.prism.runtime.structured.GrammarNode.Obj;
import io.prism.runtime.structured.GrammarNode.Ref;
import io.prism.runtime.structured.GrammarNode.Repeat;
import io.prism.runtime.structured.GrammarNode.Seq;
import io.prism.runtime.structured.GrammarNode.Str;
import io.prism.runtime.structured.GrammarNode.Union;

/**
 * The byte-level transitions of every {@link GrammarNode}: how a value starts ({@link #start}) and
 * the {@link Frame}s of values under way (scalars here, containers in {@link ContainerFrames}).
 *
 * <p><b>Lexical policy</b> (what the automaton generates, always a subset of RFC 8259):
 * <ul>
 *   <li>Whitespace: at most {@link #MAX_WHITESPACE} bytes of {@code space, \n, \r, \t} after
 *       {@code {}, {@code [}, {@code :} and {@code ,}, and before {@code }} and {@code ]}; none
 *       before a {@code :} or {@code ,}, none before or after the whole value. Bounded so a model
 *       cannot loop on whitespace; one byte allows the usual {@code {"a": 1, "b": 2}} style.
 *   <li>Numbers: {@code -?(0|[1-9][0-9]{0,14})(\.[0-9]{1,15})?([eE][+-]?[0-9]{1,2})?}; integers take
 *       the first part only. Bounded digit runs keep every number finite and exact in a double.
 *   <li>Strings: any Unicode scalar value as well-formed UTF-8 (RFC 3629: no overlongs, no
 *       surrogates, nothing above U+10FFFF), no raw control characters, the escapes {@code \" \\ \/
 *       \b \f \n \r \t} and {@code \}{@code uXXXX} outside the surrogate range D800-DFFF (so each
 *       escape is one code point, and {@code minLength}/{@code maxLength} count code points as JSON
 *       Schema does).
 * </ul>
 */
final class Frames {
  /** Whitespace bytes allowed at each place where JSON allows whitespace inside a value. */
  static final int MAX_WHITESPACE = 1;
  static final int MAX_INT_DIGITS = 15, MAX_FRACTION_DIGITS = 15, MAX_EXPONENT_DIGITS = 2;

  private Frames() {}

  static boolean isWhitespace(int b) {
    return b == ' ' || b == '\n' || b == '\r' || b == '\t';
  }

  /** Starts a value of {@code node} with its first byte {@code b}, {@code rest} (its continuation) below. */
  static void start(GrammarNode node, int b, Stack rest, Frame.Sink out) {
    if (node instanceof Obj o) {
      if (b == '{') out.add(Stack.push(new ContainerFrames.ObjOpen(o, 0, 0, true), rest));
    } else if (node instanceof Arr a) {
      if (b == '[') out.add(Stack.push(new ContainerFrames.ArrOpen(a, 0), rest));
    } else if (node instanceof Str s) {
      if (b == '"') out.add(Stack.push(new StrFrame(s, 0, 0), rest));
    } else if (node instanceof Num n) {
      if (b == '-') out.add(Stack.push(new NumFrame(n.integer(), NumFrame.MINUS, 0), rest));
      else if (b == '0') out.add(Stack.push(new NumFrame(n.integer(), NumFrame.ZERO, 0), rest));
      else if (b >= '1' && b <= '9') out.add(Stack.push(new NumFrame(n.integer(), NumFrame.INT, 1), rest));
    } else if (node instanceof Lit l) {
      LitFrame.step(l.trie, b, rest, out);
    } else if (node instanceof Union u) {
      for (GrammarNode option : u.options) start(option, b, rest, out);
    } else if (node instanceof Ref r) {
      start(r.target, b, rest, out);
    } else if (node instanceof Seq q) {
      start(q.parts().get(0), b, q.parts().size() > 1 ? Stack.push(new ContainerFrames.SeqNext(q, 1), rest) : rest, out);
    } else if (node instanceof Repeat r) {
      start(r.item(), b, Stack.push(new ContainerFrames.RepeatAfter(r, Math.min(1, r.countCap())), rest), out);
    } else {
      throw new IllegalStateException("unknown grammar node " + node);
    }
  }

  /**
   * Inside a string. {@code count}: code points so far, capped at {@link Str#countCap()}. {@code
   * mode}: 0 plain; 1 after a backslash; 2..6 inside {@code \}{@code uXXXX} (2: first hex digit, 3:
   * second, any; 4: second after a D, 0-7 only; 5: third; 6: fourth); {@code 10 + 8 * pending +
   * range}: {@code pending} UTF-8 continuation bytes due, the next in range {@code range} (0:
   * 80-BF, 1: A0-BF, 2: 80-9F, 3: 90-BF, 4: 80-8F).
   */
  record StrFrame(Str node, int count, int mode) implements Frame {
    @Override
    public void consume(int b, Stack rest, Sink out) {
      if (mode == 0) {
        if (b == '"') {
          if (count >= node.minLength()) out.add(rest);
          return;
        }
        if (node.maxLength() >= 0 && count >= node.maxLength()) return;
        int next = Math.min(count + 1, node.countCap());
        if (b == '\\') out.add(Stack.push(new StrFrame(node, next, 1), rest));
        else if (b >= 0x20 && b < 0x80) out.add(Stack.push(new StrFrame(node, next, 0), rest));
        else {
          int m = utf8Lead(b);
          if (m > 0) out.add(Stack.push(new StrFrame(node, next, m), rest));
        }
        return;
      }
      int m = afterEscapeOrUtf8(mode, b);
      if (m >= 0) out.add(Stack.push(new StrFrame(node, count, m), rest));
    }

    @Override
    public Object maskKey(int horizon) {
      int minLeft = Math.max(0, Math.min(node.minLength() - count, horizon + 1));
      int maxLeft = node.maxLength() < 0 ? horizon + 1 : Math.min(node.maxLength() - count, horizon + 1);
      return new StrKey(minLeft, maxLeft, mode);
    }
  }

  private record StrKey(int minLeft, int maxLeft, int mode) {}

  /** The mode after a UTF-8 lead byte {@code b} (see {@link StrFrame}), or 0 if {@code b} cannot lead. */
  static int utf8Lead(int b) {
    if (b >= 0xC2 && b <= 0xDF) return 10 + 8 + 0;
    if (b == 0xE0) return 10 + 16 + 1;
    if (b == 0xED) return 10 + 16 + 2;
    if (b >= 0xE1 && b <= 0xEF) return 10 + 16 + 0;
    if (b == 0xF0) return 10 + 24 + 3;
    if (b >= 0xF1 && b <= 0xF3) return 10 + 24 + 0;
    if (b == 0xF4) return 10 + 24 + 4;
    return 0;
  }

  /** The next mode inside an escape or a UTF-8 sequence (mode != 0), or -1 if {@code b} is refused. */
  static int afterEscapeOrUtf8(int mode, int b) {
    if (mode >= 10) {
      int pending = (mode - 10) / 8, range = (mode - 10) % 8;
      int lo = switch (range) { case 1 -> 0xA0; case 3 -> 0x90; default -> 0x80; };
      int hi = switch (range) { case 2 -> 0x9F; case 3 -> 0xBF; case 4 -> 0x8F; default -> 0xBF; };
      if (b < lo || b > hi) return -1;
      return pending == 1 ? 0 : 10 + 8 * (pending - 1);
    }
    return switch (mode) {
      case 1 -> b == '"' || b == '\\' || b == '/' || b == 'b' || b == 'f' || b == 'n' || b == 'r' || b == 't' ? 0 : b == 'u' ? 2 : -1;
      case 2 -> b == 'd' || b == 'D' ? 4 : isHex(b) ? 3 : -1;
      case 3 -> isHex(b) ? 5 : -1;
      case 4 -> b >= '0' && b <= '7' ? 5 : -1;
      case 5 -> isHex(b) ? 6 : -1;
      case 6 -> isHex(b) ? 0 : -1;
      default -> -1;
    };
  }

  private static boolean isHex(int b) {
    return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F');
  }

  /** Inside a number: {@code phase} one of the constants, {@code digits} in the current run. */
  record NumFrame(boolean integer, int phase, int digits) implements Frame {
    static final int MINUS = 0, ZERO = 1, INT = 2, DOT = 3, FRACTION = 4, EXP = 5, EXP_SIGN = 6, EXP_DIGITS = 7;

    @Override
    public void consume(int b, Stack rest, Sink out) {
      boolean digit = b >= '0' && b <= '9';
      NumFrame next = switch (phase) {
        case MINUS -> b == '0' ? new NumFrame(integer, ZERO, 0) : digit ? new NumFrame(integer, INT, 1) : null;
        case ZERO -> fractionOrExponent(b);
        case INT -> digit && digits < MAX_INT_DIGITS ? new NumFrame(integer, INT, digits + 1) : fractionOrExponent(b);
        case DOT -> digit ? new NumFrame(integer, FRACTION, 1) : null;
        case FRACTION -> digit && digits < MAX_FRACTION_DIGITS ? new NumFrame(integer, FRACTION, digits + 1)
            : b == 'e' || b == 'E' ? new NumFrame(integer, EXP, 0) : null;
        case EXP -> b == '+' || b == '-' ? new NumFrame(integer, EXP_SIGN, 0) : digit ? new NumFrame(integer, EXP_DIGITS, 1) : null;
        case EXP_SIGN -> digit ? new NumFrame(integer, EXP_DIGITS, 1) : null;
        case EXP_DIGITS -> digit && digits < MAX_EXPONENT_DIGITS ? new NumFrame(integer, EXP_DIGITS, digits + 1) : null;
        default -> null;
      };
      if (next != null) out.add(Stack.push(next, rest));
    }

    private NumFrame fractionOrExponent(int b) {
      if (integer) return null;
      if (b == '.') return new NumFrame(false, DOT, 0);
      if (b == 'e' || b == 'E') return new NumFrame(false, EXP, 0);
      return null;
    }

    @Override
    public boolean canFinish() {
      return phase == ZERO || phase == INT || phase == FRACTION || phase == EXP_DIGITS;
    }
  }

  /** Inside one of a fixed set of byte strings, at trie node {@code at}. */
  record LitFrame(ByteTrie at) implements Frame {
    @Override
    public void consume(int b, Stack rest, Sink out) {
      step(at, b, rest, out);
    }

    static void step(ByteTrie at, int b, Stack rest, Sink out) {
      ByteTrie c = at.child(b);
      if (c == null) return;
      if (c.leaf()) out.add(rest); // a literal ends here and nothing longer shares the prefix
      else out.add(Stack.push(new LitFrame(c), rest));
    }

    @Override
    public boolean canFinish() {
      return at.terminal();
    }
  }
}
