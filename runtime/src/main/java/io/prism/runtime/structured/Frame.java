package io.prism.runtime.structured;

/**
 * One frame of the pushdown automaton ({@link Stack}): the local state of one grammar node being
 * matched. Implementations are records (value equality, so equal states share cached masks).
 */
interface Frame {
  /**
   * Every transition of this frame on byte {@code b} (0..255) with {@code rest} below it: each
   * resulting stack goes to {@code out} (more than one when the grammar is ambiguous there, none
   * when the byte is refused). A frame that completes by consuming {@code b} (a closing quote or
   * bracket) passes {@code rest} itself.
   */
  void consume(int b, Stack rest, Sink out);

  /** Whether this frame may end before the next byte, which then goes to the frame below (numbers, some literals). */
  default boolean canFinish() {
    return false;
  }

  /**
   * A key such that frames with equal keys accept exactly the same byte strings of up to {@code
   * horizon} bytes (before reaching the frame below). Lets a string with a length counter share one
   * cached mask while the bound is farther than any token is long. Default: the frame itself.
   */
  default Object maskKey(int horizon) {
    return this;
  }

  /** Collects the stacks a byte leads to; {@link #escape()} records a byte that went below {@link Stack#HOLE}. */
  interface Sink {
    void add(Stack s);

    void escape();
  }

  /** Feeds {@code b} to {@code s}: the top frame's transitions, and, if it can finish, the frame below's. */
  static void feed(Stack s, int b, Sink out) {
    while (true) {
      if (s == Stack.HOLE) {
        out.escape();
        return;
      }
      if (s == Stack.END) return;
      s.top.consume(b, s.rest, out);
      if (!s.top.canFinish()) return;
      s = s.rest;
    }
  }
}
