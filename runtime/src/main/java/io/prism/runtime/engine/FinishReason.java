package io.prism.runtime.engine;

/** Why a sequence ended; the first three are OpenAI's {@code finish_reason} values. */
public enum FinishReason {
  /** EOS (or BOS for llama2.c checkpoints) or a stop string. OpenAI {@code "stop"}. */
  STOP,
  /** {@code max_tokens} reached or the context is full. OpenAI {@code "length"}. */
  LENGTH,
  /** Cancelled by the client (disconnect) or an operator. */
  CANCELLED,
  /** Failed with a reason (engine fault, dropped by admission, model unloaded). */
  FAILED;

  /** OpenAI wire value. */
  public String openAiValue() {
    return switch (this) {
      case STOP -> "stop";
      case LENGTH -> "length";
      case CANCELLED -> "cancelled";
      case FAILED -> "error";
    };
  }
}
