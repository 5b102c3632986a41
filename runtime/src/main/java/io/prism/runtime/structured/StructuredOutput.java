package io.prism.runtime.structured;

/**
 * A request's structured-output settings as the engine takes them.
 *
 * @param constraint what the output must match, or null for free text
 * @param toolFormat how the model writes tool calls when the request has tools (decided on the
 *     model's node from its chat template or configuration), or null
 */
public record StructuredOutput(OutputConstraint constraint, ToolCallFormat toolFormat) {}
