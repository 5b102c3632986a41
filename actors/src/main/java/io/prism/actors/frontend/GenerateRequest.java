package io.prism.actors.frontend;

import io.prism.actors.PrismMessage;
import io.prism.actors.model.ModelActor;

import io.prism.runtime.sampling.SamplingParams;

/**
 * One completion request as it travels from the HTTP node to the model's GPU: text is tokenized by
 * the {@link ModelActor} that serves the model (it owns the tokenizer).
 *
 * @param requestId unique id (e.g. {@code cmpl-...}); events carry it back
 * @param modelId model id from the catalog
 * @param prompt prompt text, or {@code null} when {@code promptTokens} is given
 * @param promptTokens prompt token ids, or {@code null} when {@code prompt} is given
 * @param addBos whether to put BOS before the prompt text (true for completions of raw text)
 * @param params sampling and stopping
 * @param maxTokensToContext when true, {@code params.maxTokens()} is ignored and the request may
 *     generate up to the model's context length ({@code maxModelLen - prompt tokens}); the OpenAI
 *     chat API's default when the client sets no limit
 */
public record GenerateRequest(String requestId, String modelId, String prompt, int[] promptTokens, boolean addBos, SamplingParams params,
    boolean maxTokensToContext) implements PrismMessage {
  public GenerateRequest {
    if (requestId == null || requestId.isEmpty()) throw new IllegalArgumentException("requestId must not be empty");
    if (modelId == null || modelId.isEmpty()) throw new IllegalArgumentException("model must not be empty");
    if ((prompt == null) == (promptTokens == null)) throw new IllegalArgumentException("exactly one of prompt and promptTokens must be given");
    if (params == null) throw new IllegalArgumentException("params must not be null");
  }

  /** A request with an explicit {@code params.maxTokens()}. */
  public GenerateRequest(String requestId, String modelId, String prompt, int[] promptTokens, boolean addBos, SamplingParams params) {
    this(requestId, modelId, prompt, promptTokens, addBos, params, false);
  }
}
