package io.prism.runtime.model;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The decoder-only transformer families the forward passes implement. All share Llama's layout
 * (pre-norm RMSNorm, grouped-query attention with RoPE, SwiGLU feed-forward); they differ in:
 *
 * <pre>
 * family   HF "architectures"    GGUF arch   q/k/v bias   RMSNorm on q, k per head   GGUF q/k row order
 * LLAMA    LlamaForCausalLM      llama       no           no                         interleaved pairs
 * MISTRAL  MistralForCausalLM    llama       no           no                         interleaved pairs
 * QWEN2    Qwen2ForCausalLM      qwen2       yes          no                         halves (NeoX)
 * QWEN3    Qwen3ForCausalLM      qwen3       no           yes (before RoPE)          halves (NeoX)
 * </pre>
 *
 * <p>Sources: Hugging Face transformers' {@code modeling_llama}, {@code modeling_mistral}, {@code
 * modeling_qwen2}, {@code modeling_qwen3} (attention blocks); llama.cpp's architecture table and
 * {@code convert_hf_to_gguf.py}, which permutes the q/k rows of Llama-layout models into
 * adjacent-pair RoPE order and leaves Qwen2/Qwen3 in Hugging Face's rotate-half order (they use
 * ggml's NeoX RoPE). Mistral GGUF files are written with architecture {@code llama}. Sliding-window
 * attention (an option of Mistral and Qwen configs) is not implemented; loaders reject it.
 */
public enum Architecture {
  LLAMA("LlamaForCausalLM", "llama", false, false),
  MISTRAL("MistralForCausalLM", null, false, false),
  QWEN2("Qwen2ForCausalLM", "qwen2", true, false),
  QWEN3("Qwen3ForCausalLM", "qwen3", false, true);

  /** The class name in a Hugging Face {@code config.json}'s {@code architectures}. */
  public final String hfName;
  /** The GGUF {@code general.architecture} value, or null when files use another's ({@code llama}). */
  public final String ggufName;
  private final boolean qkvBias;
  private final boolean qkNorm;

  Architecture(String hfName, String ggufName, boolean qkvBias, boolean qkNorm) {
    this.hfName = hfName;
    this.ggufName = ggufName;
    this.qkvBias = qkvBias;
    this.qkNorm = qkNorm;
  }

  /** Whether the q, k and v projections add a bias ({@code [qDim]}, {@code [kvDim]}, {@code [kvDim]} per layer). */
  public boolean qkvBias() {
    return qkvBias;
  }

  /** Whether q and k are RMS-normalised per head ({@code [headDim]} weights per layer) before RoPE. */
  public boolean qkNorm() {
    return qkNorm;
  }

  /**
   * The family of a Hugging Face {@code architectures} entry.
   *
   * @throws IllegalArgumentException naming {@code hfName} and the supported names
   */
  public static Architecture fromHf(String hfName) {
    for (Architecture a : values()) if (a.hfName.equals(hfName)) return a;
    throw new IllegalArgumentException("unsupported architecture " + (hfName == null ? "(none)" : "\"" + hfName + "\"") + "; supported: " + supportedHf());
  }

  /**
   * The family of a GGUF {@code general.architecture} value.
   *
   * @throws IllegalArgumentException naming {@code ggufName} and the supported values
   */
  public static Architecture fromGguf(String ggufName) {
    for (Architecture a : values()) if (a.ggufName != null && a.ggufName.equals(ggufName)) return a;
    throw new IllegalArgumentException("unsupported GGUF architecture " + (ggufName == null ? "(none)" : "\"" + ggufName + "\"") + "; supported: " + supportedGguf());
  }

  /** Supported Hugging Face names, comma-separated. */
  public static String supportedHf() {
    return Arrays.stream(values()).map(a -> a.hfName).collect(Collectors.joining(", "));
  }

  /** Supported GGUF architecture values, comma-separated. */
  public static String supportedGguf() {
    return Arrays.stream(values()).filter(a -> a.ggufName != null).map(a -> a.ggufName).collect(Collectors.joining(", "));
  }

  /** Lower-case name, e.g. {@code qwen3}. */
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }
}
