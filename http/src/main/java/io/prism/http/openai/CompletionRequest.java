package io.prism.http.openai;

import io.prism.actors.frontend.GenerateRequest;
import io.prism.runtime.sampling.SamplingParams;

/**
 * A validated {@code POST /v1/completions} or {@code /v1/chat/completions} body.
 *
 * @param chat whether it came from the chat endpoint (decides the response shape)
 * @param model model id
 * @param prompt prompt text (chat: messages rendered by {@link ChatTemplate}), or {@code null}
 * @param promptTokens prompt token ids (completions only), or {@code null}
 * @param params sampling and stopping
 * @param maxTokensToContext no limit given: generate up to the context length
 * @param stream reply as server-sent events
 * @param includeUsage {@code stream_options.include_usage}: a final chunk with token counts
 */
public record CompletionRequest(boolean chat, String model, String prompt, int[] promptTokens, SamplingParams params,
    boolean maxTokensToContext, boolean stream, boolean includeUsage) {

  /** The request field holding the prompt: {@code messages} for chat, else {@code prompt}. */
  public String promptParam() {
    return chat ? "messages" : "prompt";
  }

  /** The request as the actors take it (BOS before text prompts, as llama2.c does). */
  public GenerateRequest toGenerateRequest(String requestId) {
    return new GenerateRequest(requestId, model, prompt, promptTokens, true, params, maxTokensToContext);
  }
}
