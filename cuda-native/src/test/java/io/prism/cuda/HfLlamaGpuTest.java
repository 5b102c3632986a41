package io.prism.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.model.SafetensorsLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Llama-3 architecture (GQA, rope_theta 500000, llama3 rope scaling, untied classifier) against
 * Hugging Face transformers: {@code src/test/python/hf_llama_reference.py} saves a random-weight
 * {@code LlamaForCausalLM} (bf16 safetensors) with float32 reference logits and greedy tokens into
 * the directory named by {@code prism.hf.dir}; skipped when that is not set.
 */
@Tag("gpu")
class HfLlamaGpuTest {
  static Path dir() {
    String d = System.getProperty("prism.hf.dir");
    assumeTrue(d != null && Files.exists(Path.of(d, "logits.f32")), "prism.hf.dir with the HF reference is not set");
    return Path.of(d);
  }

  @Test
  void logitsAndGreedyTokensMatchTransformers() {
    Path dir = dir();
    LoadedModel m = SafetensorsLoader.load(dir, 256);
    int[] prompt = TestModels.ints(dir.resolve("prompt.txt"));
    int[] want = TestModels.ints(dir.resolve("greedy.txt"));
    float[] ref = HfReferenceRun.refLogits(dir);
    HfReferenceRun f32 = HfReferenceRun.run(Precision.FP32, m, prompt, ref, 8L << 30);
    HfReferenceRun bf16 = HfReferenceRun.run(Precision.BF16, m, prompt, ref, 8L << 30);
    int sameBf16 = HfReferenceRun.agreeing(want, bf16.greedy());
    System.out.printf("HF Llama-3 fp32: max rel err over %d positions %.3g, prefill %.3g, greedy %s%n", prompt.length,
        f32.maxRelPerPosition(), f32.prefillRel(), Arrays.equals(f32.greedy(), want) ? "32/32 equal" : Arrays.toString(f32.greedy()));
    System.out.printf("HF Llama-3 bf16: max rel err over %d positions %.3g, prefill %.3g, greedy %d/32 equal before the first difference%n",
        prompt.length, bf16.maxRelPerPosition(), bf16.prefillRel(), sameBf16);
    assertTrue(f32.maxRelPerPosition() < 1e-4, "fp32 rel err " + f32.maxRelPerPosition());
    assertTrue(bf16.maxRelPerPosition() < 1e-2, "bf16 rel err " + bf16.maxRelPerPosition());
    assertTrue(bf16.prefillRel() < 1e-2, "bf16 prefill rel err " + bf16.prefillRel());
    assertArrayEquals(want, f32.greedy());
  }
}
