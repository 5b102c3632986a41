package io.prism.runtime.policy.sim;

/**
 * A model's size as the cost model needs it. Presets use the published shapes (bf16 weights and KV).
 *
 * @param name display name
 * @param params parameter count
 * @param weightBytes device bytes of the weights
 * @param kvBytesPerToken KV bytes per token over all layers: {@code layers * kvHeads * headDim * 2 (K,V) * 2 bytes}
 * @param maxContextTokens longest prompt + output the simulated engine accepts
 */
public record ModelProfile(String name, double params, long weightBytes, long kvBytesPerToken, int maxContextTokens) {
  public ModelProfile {
    if (params <= 0 || weightBytes <= 0 || kvBytesPerToken <= 0 || maxContextTokens <= 0) {
      throw new IllegalArgumentException("model profile " + name + " needs positive sizes");
    }
  }

  /** Llama 3.2 1B: 16 layers, 8 KV heads of 64: 32 KiB per token. */
  public static final ModelProfile LLAMA_3_2_1B = new ModelProfile("llama-3.2-1b", 1.24e9, 2_471_000_000L, 16 * 8 * 64 * 4, 16384);
  /** Llama 3.2 3B: 28 layers, 8 KV heads of 128: 112 KiB per token. */
  public static final ModelProfile LLAMA_3_2_3B = new ModelProfile("llama-3.2-3b", 3.21e9, 6_425_000_000L, 28 * 8 * 128 * 4, 16384);
  /** Llama 3.1 8B: 32 layers, 8 KV heads of 128: 128 KiB per token. */
  public static final ModelProfile LLAMA_3_1_8B = new ModelProfile("llama-3.1-8b", 8.03e9, 16_060_000_000L, 32 * 8 * 128 * 4, 16384);
  /** Qwen 2.5 14B: 48 layers, 8 KV heads of 128: 192 KiB per token. */
  public static final ModelProfile QWEN_2_5_14B = new ModelProfile("qwen2.5-14b", 14.77e9, 29_540_000_000L, 48 * 8 * 128 * 4, 16384);
}
