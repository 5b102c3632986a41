package io.prism.runtime.engine;

import io.prism.runtime.structured.ConstraintState;
import io.prism.runtime.structured.GrammarCache;
import io.prism.runtime.structured.OutputConstraint;
import io.prism.runtime.structured.SchemaException;
import io.prism.runtime.structured.StructuredOutput;
import io.prism.runtime.structured.ToolCallFormat;
import io.prism.runtime.structured.TokenVocabulary;
import io.prism.runtime.tokenizer.Tokenizer;

/**
 * Structured output in the engine: a constrained request's grammar state, made at admission from
 * the process-wide {@link GrammarCache} over the model's {@link TokenVocabulary} (built on the
 * first constrained request of a model: about 0.4-2 s for a 128k vocabulary, on the engine thread).
 *
 * <p>Per step, {@link EngineStep} applies the state's mask to the sequence's logits row before
 * sampling (so a constrained row always takes the host path, which copies its logits row: on CUDA a
 * step with any constrained row copies every row of the step, {@code rows x vocabSize x 4} bytes,
 * about 0.5 MiB per row for 128k, and samples them on the host), and {@link RequestLifecycle}
 * advances it with the sampled token. Ending: stop tokens are allowed only where the output is
 * complete; once nothing may follow, the sequence ends with {@code STOP} at once; {@code
 * max_tokens} or the context running out first ends it with {@code LENGTH} and an incomplete text,
 * as OpenAI does; a stop string still ends it where it matches (the text before it, which is then a
 * prefix of a valid output). Threading: the engine thread.
 */
final class Constraints {
  private Constraints() {}

  /** Why {@code r}'s constraint cannot be compiled (an invalid request naming {@code response_format} or {@code tools}), or null. */
  static Rejection problem(GenerationRequest r) {
    OutputConstraint c = r.structured() == null ? null : r.structured().constraint();
    if (c == null) return null;
    try {
      c.grammar(format(r.structured()));
      return null;
    } catch (SchemaException e) {
      return new Rejection.InvalidRequest(c instanceof OutputConstraint.ToolCalls ? "tools" : "response_format.json_schema.schema", e.getMessage());
    } catch (IllegalArgumentException e) {
      return new Rejection.InvalidRequest(c instanceof OutputConstraint.ToolCalls ? "tool_choice" : "response_format", e.getMessage());
    }
  }

  /** A fresh grammar state for {@code r}, or null when it is not constrained. @throws SchemaException as {@link #problem} */
  static ConstraintState newState(GenerationRequest r, Tokenizer tokenizer) {
    StructuredOutput so = r.structured();
    if (so == null || so.constraint() == null) return null;
    return GrammarCache.shared().masks(so.constraint().grammar(format(so)), TokenVocabulary.of(tokenizer)).newState();
  }

  private static ToolCallFormat format(StructuredOutput so) {
    return so.toolFormat() != null ? so.toolFormat() : ToolCallFormat.HERMES;
  }
}
