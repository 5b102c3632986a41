package io.prism.runtime.structured;

import static io.prism.runtime.structured.Frames.MAX_WHITESPACE;
import static io.prism.runtime.structured.Frames.isWhitespace;

import io.prism.runtime.structured.GrammarNode.Arr;
import io.prism.runtime.structured.GrammarNode.Obj;
import io.prism.runtime.structured.GrammarNode.Repeat;
import io.prism.runtime.structured.GrammarNode.Seq;

/**
 * Frames of the nodes that hold other nodes: objects, arrays, sequences and repetitions. A value
 * inside a container is started by {@link Frames#start} with the container's continuation frame
 * pushed below it, so the value's frames never know their context (which is what lets {@link
 * TokenMasks} cache a frame's mask independently of the stack beneath). Counters are capped where
 * larger values no longer change what may follow, so states stay few.
 */
final class ContainerFrames {
  private ContainerFrames() {}

  /**
   * After {@code {} ({@code first}) or a {@code ,}, {@code ws} whitespace bytes read; {@code next}:
   * the first declared property that may still appear.
   */
  record ObjOpen(Obj o, int next, int ws, boolean first) implements Frame {
    @Override
    public void consume(int b, Stack rest, Sink out) {
      if (isWhitespace(b)) {
        if (ws < MAX_WHITESPACE) out.add(Stack.push(new ObjOpen(o, next, ws + 1, first), rest));
      } else if (b == '"') {
        if (next < o.names.length && o.keys.hasTagIn(next, o.lastCandidate(next))) out.add(Stack.push(new ObjDeclaredKey(o, next, o.keys), rest));
        if (o.additional != null) out.add(Stack.push(new ObjFreeKey(o, next, o.keys, 0), rest));
      } else if (b == '}' && first && !o.missingRequired(next)) {
        out.add(rest);
      }
    }
  }

  /** Inside a declared property's key, at node {@code at} of the key trie. */
  record ObjDeclaredKey(Obj o, int next, ByteTrie at) implements Frame {
    @Override
    public void consume(int b, Stack rest, Sink out) {
      ByteTrie c = at.child(b);
      if (c == null || !c.hasTagIn(next, o.lastCandidate(next))) return;
      if (c.terminal()) out.add(Stack.push(new ObjColon(o, c.tag() + 1, c.tag()), rest));
      else out.add(Stack.push(new ObjDeclaredKey(o, next, c), rest));
    }
  }

  /**
   * Inside an additional property's key: any string without escapes that is not a declared name
   * ({@code declared}: where the key read so far sits in the declared keys' trie, null once it left
   * it); {@code mode} as {@link Frames.StrFrame}'s UTF-8 modes.
   */
  record ObjFreeKey(Obj o, int next, ByteTrie declared, int mode) implements Frame {
    @Override
    public void consume(int b, Stack rest, Sink out) {
      if (mode != 0) {
        int m = Frames.afterEscapeOrUtf8(mode, b);
        if (m >= 0) out.add(Stack.push(new ObjFreeKey(o, next, declared == null ? null : declared.child(b), m), rest));
        return;
      }
      if (b == '"') {
        if (declared == null || declared.child('"') == null) out.add(Stack.push(new ObjColon(o, next, -1), rest));
        return;
      }
      if (b == '\\' || b < 0x20) return;
      int m = b < 0x80 ? 0 : Frames.utf8Lead(b);
      if (b >= 0x80 && m == 0) return;
      out.add(Stack.push(new ObjFreeKey(o, next, declared == null ? null : declared.child(b), m), rest));
    }
  }

  /** After a key: a colon must follow. {@code valueIndex}: the declared property, or -1 for an additional one. */
  record ObjColon(Obj o, int next, int valueIndex) implements Frame {
    @Override
    public void consume(int b, Stack rest, Sink out) {
      if (b == ':') out.add(Stack.push(new ObjValue(o, next, valueIndex, 0), rest));
    }
  }

  /** After the colon, before the value. */
  record ObjValue(Obj o, int next, int valueIndex, int ws) implements Frame {
    @Override
    public void consume(int b, Stack rest, Sink out) {
      if (isWhitespace(b)) {
        if (ws < MAX_WHITESPACE) out.add(Stack.push(new ObjValue(o, next, valueIndex, ws + 1), rest));
        return;
      }
      GrammarNode value = valueIndex < 0 ? o.additional : o.values[valueIndex];
      Frames.start(value, b, Stack.push(new ObjAfterValue(o, next, 0), rest), out);
    }
  }

  /** After a property's value: a comma, or the closing brace once every required property came. */
  record ObjAfterValue(Obj o, int next, int ws) implements Frame {
    @Override
    public void consume(int b, Stack rest, Sink out) {
      if (isWhitespace(b)) {
        if (ws < MAX_WHITESPACE) out.add(Stack.push(new ObjAfterValue(o, next, ws + 1), rest));
      } else if (b == ',') {
        if (o.moreKeys(next)) out.add(Stack.push(new ObjOpen(o, next, 0, false), rest));
      } else if (b == '}' && !o.missingRequired(next)) {
        out.add(rest);
      }
    }
  }

  /** After {@code [}. */
  record ArrOpen(Arr a, int ws) implements Frame {
    @Override
    public void consume(int b, Stack rest, Sink out) {
      if (isWhitespace(b)) {
        if (ws < MAX_WHITESPACE) out.add(Stack.push(new ArrOpen(a, ws + 1), rest));
      } else if (b == ']') {
        if (a.minItems() == 0) out.add(rest);
      } else if (a.maxItems() != 0) {
        Frames.start(a.items(), b, Stack.push(new ArrAfterItem(a, Math.min(1, a.countCap()), 0), rest), out);
      }
    }
  }

  /** After an item; {@code count} items so far (capped). */
  record ArrAfterItem(Arr a, int count, int ws) implements Frame {
    @Override
    public void consume(int b, Stack rest, Sink out) {
      if (isWhitespace(b)) {
        if (ws < MAX_WHITESPACE) out.add(Stack.push(new ArrAfterItem(a, count, ws + 1), rest));
      } else if (b == ',') {
        if (a.maxItems() < 0 || count < a.maxItems()) out.add(Stack.push(new ArrComma(a, count, 0), rest));
      } else if (b == ']' && count >= a.minItems()) {
        out.add(rest);
      }
    }
  }

  /** After a comma between items. */
  record ArrComma(Arr a, int count, int ws) implements Frame {
    @Override
    public void consume(int b, Stack rest, Sink out) {
      if (isWhitespace(b)) {
        if (ws < MAX_WHITESPACE) out.add(Stack.push(new ArrComma(a, count, ws + 1), rest));
        return;
      }
      Frames.start(a.items(), b, Stack.push(new ArrAfterItem(a, Math.min(count + 1, a.countCap()), 0), rest), out);
    }
  }

  /** Part {@code index} of a sequence comes next. */
  record SeqNext(Seq q, int index) implements Frame {
    @Override
    public void consume(int b, Stack rest, Sink out) {
      Stack after = index + 1 < q.parts().size() ? Stack.push(new SeqNext(q, index + 1), rest) : rest;
      Frames.start(q.parts().get(index), b, after, out);
    }
  }

  /** After {@code count} items of a repetition (capped): another separator and item, or the end once {@code count >= min}. */
  record RepeatAfter(Repeat r, int count) implements Frame {
    @Override
    public void consume(int b, Stack rest, Sink out) {
      if (r.max() >= 0 && count >= r.max()) return;
      if (r.separator() != null) Frames.start(r.separator(), b, Stack.push(new RepeatItem(r, count), rest), out);
      else Frames.start(r.item(), b, Stack.push(new RepeatAfter(r, Math.min(count + 1, r.countCap())), rest), out);
    }

    @Override
    public boolean canFinish() {
      return count >= r.min();
    }
  }

  /** After a separator: the next item. */
  record RepeatItem(Repeat r, int count) implements Frame {
    @Override
    public void consume(int b, Stack rest, Sink out) {
      Frames.start(r.item(), b, Stack.push(new RepeatAfter(r, Math.min(count + 1, r.countCap())), rest), out);
    }
  }
}
