package io.prism.http.openai;

import io.prism.runtime.structured.StructuredOutput;
import io.prism.actors.frontend.GenerateRequest;
import io.prism.runtime.chat.ChatInput;
import io.prism.runtime.sampling.SamplingParams;

/**
 * A validated {@code POST /v1/completions} or {@code /v1/chat/completions} body.
 *
 * @param chat whether it came from the chat endpoint (decides the response shape)
 * @param model model id
 * @param prompt prompt text (completions only), or {@code null}
 * @param promptTokens prompt token ids (completions only), or {@code null}
 * @param messages the conversation (chat only; rendered with the model's chat template on its GPU
 *     node), or {@code null}
 * @param params sampling and stopping
 * @param maxTokensToContext no limit given: generate up to the context length
 * @param stream reply as server-sent events
 * @param includeUsage {@code stream_options.include_usage}: a final chunk with token counts
 * @param structured {@code response_format} / {@code tool_choice} constraint, or null
 * @param toolCalls whether the answer is parsed for tool calls (tools given, {@code tool_choice} not {@code none})
 */
public record CompletionRequest(boolean chat, String model, String prompt, int[] promptTokens, ChatInput messages, SamplingParams params,
    boolean maxTokensToContext, boolean stream, boolean includeUsage, StructuredOutput structured, boolean toolCalls) {

  /** A request without structured output or tools. */
  public CompletionRequest(boolean chat, String model, String prompt, int[] promptTokens, ChatInput messages, SamplingParams params,
      boolean maxTokensToContext, boolean stream, boolean includeUsage) {
    this(chat, model, prompt, promptTokens, messages, params, maxTokensToContext, stream, includeUsage, null, false);
  }

  /** The request field holding the prompt: {@code messages} for chat, else {@code prompt}. */
  public String promptParam() {
    return chat ? "messages" : "prompt";
  }

  /** The request as the actors take it (BOS before text prompts, as llama2.c does; chat decides BOS on the GPU node). */
  public GenerateRequest toGenerateRequest(String requestId) {
    if (messages != null) return new GenerateRequest(requestId, model, null, null, messages, false, params, maxTokensToContext, structured);
    return new GenerateRequest(requestId, model, prompt, promptTokens, null, true, params, maxTokensToContext, structured);
  }
}
