package io.prism.runtime.structured;

import io.prism.runtime.structured.GrammarNode.Arr;
import io.prism.runtime.structured.GrammarNode.Lit;
import io.prism.runtime.structured.GrammarNode.Num;
import io.prism.runtime.structured.GrammarNode.Obj;
import io.prism.runtime.structured.GrammarNode.Str;
import io.prism.runtime.structured.GrammarNode.Union;
import java.util.List;

/**
 * A compiled output grammar, independent of any vocabulary: a pushdown automaton over bytes that
 * accepts exactly the texts of its language (for a JSON Schema, the compact-ish JSON texts valid for
 * the schema under the lexical policy of {@link Frames}). Built by {@link JsonSchemaCompiler},
 * {@link #anyJsonObject()} or {@link ToolCallGrammar}; combined with a {@link TokenVocabulary} by
 * {@link TokenMasks}. Immutable; any thread.
 *
 * @param root the node the whole output must match
 * @param key canonical text identifying the language (the cache key with the vocabulary)
 */
public record Grammar(GrammarNode root, String key) {
  private static final Union ANY = anyValue();
  private static final Grammar ANY_OBJECT = new Grammar(new Obj(List.of(), List.of(), List.of(), ANY), "json_object");

  /** OpenAI's {@code json_object} mode: any JSON object (keys any strings without escapes, values any JSON). */
  public static Grammar anyJsonObject() {
    return ANY_OBJECT;
  }

  /** Any JSON value (the schema {@code true} or {@code {}}). */
  static GrammarNode any() {
    return ANY;
  }

  /** The initial automaton state: the root value not yet started. */
  Stack initialStack() {
    return Stack.push(new Start(root), Stack.END);
  }

  private static Union anyValue() {
    Union any = new Union(new GrammarNode[0]);
    any.options = new GrammarNode[] {new Obj(List.of(), List.of(), List.of(), any), new Arr(any, 0, -1), new Str(0, -1), new Num(false),
        new Lit(List.of("true", "false", "null"))};
    return any;
  }

  /** The frame of a value not yet started (the automaton's initial frame). */
  record Start(GrammarNode node) implements Frame {
    @Override
    public void consume(int b, Stack rest, Sink out) {
      Frames.start(node, b, rest, out);
    }
  }
}
