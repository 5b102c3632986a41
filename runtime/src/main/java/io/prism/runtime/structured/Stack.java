package io.prism.runtime.structured;

/**
 * The pushdown automaton's stack: an immutable linked list of {@link Frame}s, the top first, each
 * frame below being what its parent continues as once the frame above is done. Two sentinels end a
 * stack: {@link #END} (the whole output is complete; it takes no byte) and {@link #HOLE} (the
 * unknown rest of a stack, used to compute a frame's context-independent mask: a byte that would go
 * below it is an "escape", see {@link TokenMasks}). Equality is structural and the hash is computed
 * once, so stacks key the mask caches. Immutable; any thread.
 */
final class Stack {
  /** Bottom of a complete stack: reaching it means the output is complete. */
  static final Stack END = new Stack(null, null, 1);
  /** Bottom of a local (context-free) stack: popping into it leaves the local walk. */
  static final Stack HOLE = new Stack(null, null, 2);

  final Frame top;
  final Stack rest;
  private final int hash;

  private Stack(Frame top, Stack rest, int hash) {
    this.top = top;
    this.rest = rest;
    this.hash = hash;
  }

  /** {@code top} pushed on {@code rest}. */
  static Stack push(Frame top, Stack rest) {
    return new Stack(top, rest, 31 * rest.hash + top.hashCode());
  }

  /** Whether the output may end here: only frames that can finish lie above {@link #END}. */
  boolean accepting() {
    Stack s = this;
    while (s != END) {
      if (s == HOLE || !s.top.canFinish()) return false;
      s = s.rest;
    }
    return true;
  }

  @Override
  public boolean equals(Object o) {
    if (this == o) return true;
    if (!(o instanceof Stack s) || s.hash != hash || top == null || s.top == null) return false;
    return top.equals(s.top) && rest.equals(s.rest);
  }

  @Override
  public int hashCode() {
    return hash;
  }

  @Override
  public String toString() {
    if (this == END) return "END";
    if (this == HOLE) return "HOLE";
    return top + " | " + rest;
  }
}
