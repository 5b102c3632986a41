package io.prism.cuda;

/**
 * Number format of weights, GEMM inputs and KV cache on a CUDA device. Accumulation, the residual
 * stream, norms and GEMM outputs are float32 in both.
 */
public enum Precision {
  /** bf16 weights, activations into GEMMs and KV cache (2 bytes); the serving default. */
  BF16(2),
  /** float32 everywhere (4 bytes), GEMMs without TF32: the mode that checks against the reference C implementation. */
  FP32(4);

  /** Bytes per weight, GEMM-input and KV element. */
  public final int elementBytes;

  Precision(int elementBytes) {
    this.elementBytes = elementBytes;
  }

  /** Kernel-name suffix: {@code bf16} or {@code f32}. */
  String suffix() {
    return this == BF16 ? "bf16" : "f32";
  }
}
