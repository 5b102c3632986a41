package io.prism.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.model.Architecture;
import io.prism.runtime.model.GgmlType;
import io.prism.runtime.model.ModelWeights;
import io.prism.runtime.model.QuantizedMatrices;
import java.util.function.BiFunction;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Weights kept quantized on the device (dequantising GEMVs of {@code quant.cu}) against the host
 * backend running the same blocks dequantised ({@link QuantizedMatrices#dequantized}): random
 * models of each GGUF architecture in llama.cpp's Q4_K_M mix (Q4_K with Q6_K attn_v / ffn_down in
 * some layers and a Q6_K classifier), and all-Q8_0 / all-Q6_K. Decode steps run the GEMVs; the
 * 20-token prefill runs dequantise + cuBLAS, and once more through 8-token GEMV chunks. Float32 logits within 1e-4 relative,
 * bf16 within 1e-2; greedy tokens of the float32 device path equal to the host's for 32 steps.
 */
@Tag("gpu")
class QuantGpuTest {
  static final int STEPS = 32;

  @ParameterizedTest
  @ValueSource(strings = {"LLAMA:q4_k_m", "QWEN2:q4_k_m", "QWEN3:q4_k_m", "LLAMA:q8_0", "QWEN3:q6_k"})
  void quantizedModelMatchesItsHostTwin(String spec) {
    Architecture a = Architecture.valueOf(spec.split(":")[0]);
    ModelWeights w = ArchRuns.randomModel(a, 23);
    BiFunction<Integer, Integer, GgmlType> mix = switch (spec.split(":")[1]) {
      case "q4_k_m" -> QuantizedMatrices.kMix(w.config, GgmlType.Q4_K);
      case "q8_0" -> (l, m) -> GgmlType.Q8_0;
      default -> (l, m) -> GgmlType.Q6_K;
    };
    QuantizedMatrices q = QuantizedMatrices.quantize(w, mix);
    ModelWeights twin = q.dequantized(w);
    int[] prompt = ArchRuns.prompt(20, w.config.vocabSize(), 9);
    ArchRuns.Run host = ArchRuns.host(twin, prompt, STEPS);
    ArchRuns.Run f32 = ArchRuns.cuda(Precision.FP32, twin, q, prompt, STEPS);
    ArchRuns.Run bf16 = ArchRuns.cuda(Precision.BF16, twin, q, prompt, STEPS);
    double e32 = ArchRuns.worstRel(f32.perPosition(), host.perPosition()), p32 = TestModels.relativeError(f32.prefill(), host.prefill());
    double e16 = ArchRuns.worstRel(bf16.perPosition(), host.perPosition()), p16 = TestModels.relativeError(bf16.prefill(), host.prefill());
    System.out.printf("%s (%.1f MB quantized): fp32 rel err %.3g (prefill %.3g), bf16 %.3g (prefill %.3g), greedy fp32 = host %d/%d, bf16 = host %d/%d%n",
        spec, q.bytes() / 1e6, e32, p32, e16, p16, ArchRuns.agree(f32.greedy(), host.greedy()), STEPS, ArchRuns.agree(bf16.greedy(), host.greedy()), STEPS);
    assertTrue(e32 < 1e-4 && p32 < 1e-4, spec + " fp32 rel err " + e32 + " / " + p32);
    assertTrue(e16 < 1e-2 && p16 < 1e-2, spec + " bf16 rel err " + e16 + " / " + p16);
    assertArrayEquals(host.greedy(), f32.greedy(), spec + " greedy fp32 vs host");
    // the same 20-token prefill through 8-token GEMV chunks instead of dequantise + cuBLAS
    String old = System.getProperty("prism.cuda.quant-dense-min-tokens");
    System.setProperty("prism.cuda.quant-dense-min-tokens", "1000");
    try {
      ArchRuns.Run chunked = ArchRuns.cuda(Precision.FP32, twin, q, prompt, 2);
      double pc = TestModels.relativeError(chunked.prefill(), host.prefill());
      System.out.printf("%s: prefill through GEMV chunks fp32 rel err %.3g%n", spec, pc);
      assertTrue(pc < 1e-4, spec + " chunked prefill rel err " + pc);
    } finally {
      if (old == null) System.clearProperty("prism.cuda.quant-dense-min-tokens");
      else System.setProperty("prism.cuda.quant-dense-min-tokens", old);
    }
  }
}
