package io.prism.actors.frontend;

import io.prism.runtime.structured.StructuredOutput;
import io.prism.actors.PrismMessage;
import io.prism.actors.model.ModelActor;

import io.prism.runtime.chat.ChatInput;
import io.prism.runtime.sampling.SamplingParams;

/**
 * One completion request as it travels from the HTTP node to the model's GPU: text is tokenized by
 * the {@link ModelActor} that serves the model (it owns the tokenizer).
 *
 * @param requestId unique id (e.g. {@code cmpl-...}); events carry it back
 * @param modelId model id from the catalog
 * @param prompt prompt text, or {@code null} when {@code promptTokens} or {@code chat} is given
 * @param promptTokens prompt token ids, or {@code null} when {@code prompt} or {@code chat} is given
 * @param chat a chat conversation, rendered and tokenized on the model's GPU node with the model's
 *     own chat template ({@code io.prism.runtime.chat.ChatTokenizer#encodeChat}), or {@code null}
 * @param addBos whether to put BOS before the prompt text when the vocabulary has one (true for
 *     completions of raw text; a vocabulary without BOS, as Qwen's, gets none; chat decides BOS itself)
 * @param params sampling and stopping
 * @param maxTokensToContext when true, {@code params.maxTokens()} is ignored and the request may
 *     generate up to the model's context length ({@code maxModelLen - prompt tokens}); the OpenAI
 *     chat API's default when the client sets no limit
 * @param structured constrained decoding ({@code response_format}, {@code tool_choice}) and whether
 *     tool calls are expected, or null; its tool-call format is decided on the model's node
 */
public record GenerateRequest(String requestId, String modelId, String prompt, int[] promptTokens, ChatInput chat, boolean addBos,
    SamplingParams params, boolean maxTokensToContext, StructuredOutput structured) implements PrismMessage {
  public GenerateRequest {
    if (requestId == null || requestId.isEmpty()) throw new IllegalArgumentException("requestId must not be empty");
    if (modelId == null || modelId.isEmpty()) throw new IllegalArgumentException("model must not be empty");
    int given = (prompt == null ? 0 : 1) + (promptTokens == null ? 0 : 1) + (chat == null ? 0 : 1);
    if (given != 1) throw new IllegalArgumentException("exactly one of prompt, promptTokens and chat must be given");
    if (params == null) throw new IllegalArgumentException("params must not be null");
  }

  /** A request without structured output. */
  public GenerateRequest(String requestId, String modelId, String prompt, int[] promptTokens, ChatInput chat, boolean addBos,
      SamplingParams params, boolean maxTokensToContext) {
    this(requestId, modelId, prompt, promptTokens, chat, addBos, params, maxTokensToContext, null);
  }

  /** A text or token-id prompt (no chat). */
  public GenerateRequest(String requestId, String modelId, String prompt, int[] promptTokens, boolean addBos, SamplingParams params,
      boolean maxTokensToContext) {
    this(requestId, modelId, prompt, promptTokens, null, addBos, params, maxTokensToContext);
  }

  /** A chat request. */
  public GenerateRequest(String requestId, String modelId, ChatInput chat, SamplingParams params, boolean maxTokensToContext) {
    this(requestId, modelId, null, null, chat, false, params, maxTokensToContext);
  }

  /** A request with an explicit {@code params.maxTokens()}. */
  public GenerateRequest(String requestId, String modelId, String prompt, int[] promptTokens, boolean addBos, SamplingParams params) {
    this(requestId, modelId, prompt, promptTokens, addBos, params, false);
  }
}
