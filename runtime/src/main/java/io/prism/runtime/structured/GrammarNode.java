package io.prism.runtime.structured;

import java.util.List;

/**
 * One element of a compiled output grammar: what a JSON value (or a literal piece of a tool-call
 * wrapper) may look like. {@link JsonSchemaCompiler} builds them from a schema, {@link ToolCallGrammar}
 * from tool definitions; {@link Frames} runs them byte by byte. Every node matches only non-empty
 * byte strings, and every state reachable in it can still complete (no dead ends), so a prefix the
 * automaton accepts can always be finished. Nodes compare by identity (they may be cyclic through
 * {@link Ref}). Immutable once built; any thread.
 */
sealed interface GrammarNode {
  /** A JSON object. Declared properties appear at most once each, in declaration order. */
  final class Obj implements GrammarNode {
    final String[] names;
    final GrammarNode[] values;
    final boolean[] required;
    /** The schema of properties not declared, or null when none may appear. */
    final GrammarNode additional;
    /** Keys as their JSON text without the opening quote ({@code name"}), tagged by property index. */
    final ByteTrie keys;
    /** {@code firstRequired[i]}: the smallest required index {@code >= i}, or {@code names.length}. */
    final int[] firstRequired;

    Obj(List<String> names, List<GrammarNode> values, List<Boolean> required, GrammarNode additional) {
      int n = names.size();
      this.names = names.toArray(new String[0]);
      this.values = values.toArray(new GrammarNode[0]);
      this.required = new boolean[n];
      for (int i = 0; i < n; i++) this.required[i] = required.get(i);
      this.additional = additional;
      this.keys = ByteTrie.of(names.stream().map(s -> JsonText.quote(s).substring(1)).toList());
      this.firstRequired = new int[n + 1];
      firstRequired[n] = n;
      for (int i = n - 1; i >= 0; i--) firstRequired[i] = this.required[i] ? i : firstRequired[i + 1];
    }

    /** Whether a required property at index {@code >= next} is still missing. */
    boolean missingRequired(int next) {
      return firstRequired[next] < names.length;
    }

    /** The last declared index a key may take when the next one is {@code next}: up to and including the first missing required one. */
    int lastCandidate(int next) {
      return Math.min(firstRequired[next], names.length - 1);
    }

    /** Whether another key may follow when the next declared one is {@code next}. */
    boolean moreKeys(int next) {
      return next < names.length || additional != null;
    }
  }

  /** A JSON array of {@code items}, with {@code minItems <= count <= maxItems} ({@code maxItems} -1: unbounded). */
  record Arr(GrammarNode items, int minItems, int maxItems) implements GrammarNode {
    /** The largest count that still changes what may follow. */
    int countCap() {
      return maxItems >= 0 ? maxItems : minItems;
    }
  }

  /** A JSON string of {@code minLength..maxLength} code points ({@code maxLength} -1: unbounded). */
  record Str(int minLength, int maxLength) implements GrammarNode {
    int countCap() {
      return maxLength >= 0 ? maxLength : minLength;
    }
  }

  /** A JSON number; {@code integer}: no fraction or exponent. Digit runs are bounded (see {@link Frames}). */
  record Num(boolean integer) implements GrammarNode {}

  /** One of a fixed set of byte strings (JSON texts of enum/const values, {@code true}, or wrapper text). */
  final class Lit implements GrammarNode {
    final ByteTrie trie;
    final List<String> texts;

    Lit(List<String> texts) {
      this.texts = List.copyOf(texts);
      this.trie = ByteTrie.of(this.texts);
    }
  }

  /** Any one of {@code options} (a list of types, {@code anyOf}, {@code oneOf}). */
  final class Union implements GrammarNode {
    GrammarNode[] options;

    Union(GrammarNode[] options) {
      this.options = options;
    }
  }

  /** A reference ({@code $ref}), bound once its target is compiled; recursion goes through it. */
  final class Ref implements GrammarNode {
    final String pointer;
    GrammarNode target;

    Ref(String pointer) {
      this.pointer = pointer;
    }
  }

  /** {@code parts} one after the other. */
  record Seq(List<GrammarNode> parts) implements GrammarNode {}

  /** {@code item}, then {@code separator item} repeated, {@code min..max} items in all ({@code max} -1: unbounded; {@code min >= 1}). */
  record Repeat(GrammarNode item, GrammarNode separator, int min, int max) implements GrammarNode {
    int countCap() {
      return max >= 0 ? max : min;
    }
  }
}
