package io.prism.runtime.structured;

import java.util.List;

/**
 * One sequence's place in its output grammar: advanced by each sampled token, it gives the mask of
 * the next step. Starts at the beginning of the output ({@link TokenMasks#newState()}).
 *
 * <p>Stop tokens: allowed by the mask only where the output so far is complete ({@link
 * #accepting()}); {@link #advance} takes them without moving. Threading: not thread-safe; one
 * sequence's state lives on its engine thread.
 */
public final class ConstraintState {
  private final TokenMasks masks;
  private List<Stack> states;
  private TokenMask mask; // of the current states, computed on demand

  ConstraintState(TokenMasks masks) {
    this.masks = masks;
    this.states = List.of(masks.grammar().initialStack());
  }

  /** The tokens allowed next (cached per automaton state). */
  public TokenMask mask() {
    if (mask == null) mask = masks.mask(states);
    return mask;
  }

  /** Sets the logits of every token not allowed next to {@code -Infinity}. @param logits {@code [vocabSize]} */
  public void applyMask(float[] logits) {
    mask().apply(logits);
  }

  /**
   * Moves past token {@code id}.
   *
   * @throws IllegalStateException if the grammar does not allow {@code id} here (the mask was not
   *     applied before sampling)
   */
  public void advance(int id) {
    TokenVocabulary v = masks.vocabulary();
    if (v.isStop(id)) {
      if (!accepting()) throw new IllegalStateException("stop token " + id + " before the constrained output is complete");
      return;
    }
    byte[] b = id >= 0 && id < v.vocabSize ? v.bytes(id) : null;
    if (b == null) throw new IllegalStateException("token " + id + " contributes no text and is never allowed by a grammar");
    List<Stack> s = states;
    for (byte x : b) {
      s = TokenMasks.advance(s, x & 0xff);
      if (s.isEmpty()) throw new IllegalStateException("token " + id + " is not allowed by the grammar here");
    }
    states = List.copyOf(s);
    mask = null;
  }

  /** The automaton state (tests). */
  List<Stack> states() {
    return states;
  }

  /** Whether the output so far is a complete text of the grammar (a stop token may end it). */
  public boolean accepting() {
    for (Stack s : states) if (s.accepting()) return true;
    return false;
  }

  /** Whether the output is complete and nothing may follow (the sequence should end now). */
  public boolean complete() {
    for (Stack s : states) if (s != Stack.END) return false;
    return true;
  }
}
