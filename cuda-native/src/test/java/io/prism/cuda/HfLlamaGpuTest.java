package io.prism.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.prism.runtime.engine.ForwardBatch;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.model.SafetensorsLoader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
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

  static float[] refLogits(Path dir) {
    try {
      ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(dir.resolve("logits.f32"))).order(ByteOrder.LITTLE_ENDIAN);
      float[] f = new float[b.remaining() / 4];
      b.asFloatBuffer().get(f);
      return f;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private record Result(double maxRelPerPosition, double prefillRel, int[] greedy) {}

  private static Result run(Precision p, LoadedModel m, int[] prompt, float[] ref) {
    int v = m.config().vocabSize();
    try (CudaDevice dev = CudaDevices.open(1, 8L << 30, p, 64).get(0);
        KvCache kv = KvCache.reserve(dev.memory(), m.config(), 16, p.elementBytes, 256);
        CudaForwardBackend be = dev.load(m, kv)) {
      KvPages pages = new KvPages(dev.memory());
      int[] table = Greedy.contiguous(kv.maxBlocks());
      pages.ensureBlocks(kv, Arrays.copyOf(table, 8));
      // logits of every prompt position: token by token
      double worst = 0;
      float[][] out = new float[1][v];
      for (int i = 0; i < prompt.length; i++) {
        be.forward(new ForwardBatch(List.of(new ForwardBatch.Entry(new int[] {prompt[i]}, i, table, true))), out);
        double rel = TestModels.relativeError(out[0], Arrays.copyOfRange(ref, i * v, (i + 1) * v));
        worst = Math.max(worst, rel);
      }
      // the whole prompt in one prefill step (rewrites the same slots), last row
      be.forward(new ForwardBatch(List.of(new ForwardBatch.Entry(prompt, 0, table, true))), out);
      double prefill = TestModels.relativeError(out[0], Arrays.copyOfRange(ref, (prompt.length - 1) * v, prompt.length * v));
      int[] greedy = Greedy.generate(be, pages, table, prompt, 32, null);
      pages.unmapAll(kv);
      pages.releaseAll();
      return new Result(worst, prefill, greedy);
    }
  }

  @Test
  void logitsAndGreedyTokensMatchTransformers() {
    Path dir = dir();
    LoadedModel m = SafetensorsLoader.load(dir, 256);
    int[] prompt = TestModels.ints(dir.resolve("prompt.txt"));
    int[] want = TestModels.ints(dir.resolve("greedy.txt"));
    float[] ref = refLogits(dir);
    Result f32 = run(Precision.FP32, m, prompt, ref);
    Result bf16 = run(Precision.BF16, m, prompt, ref);
    int sameBf16 = 0;
    while (sameBf16 < want.length && bf16.greedy[sameBf16] == want[sameBf16]) sameBf16++;
    System.out.printf("HF Llama-3 fp32: max rel err over %d positions %.3g, prefill %.3g, greedy %s%n", prompt.length,
        f32.maxRelPerPosition, f32.prefillRel, Arrays.equals(f32.greedy, want) ? "32/32 equal" : Arrays.toString(f32.greedy));
    System.out.printf("HF Llama-3 bf16: max rel err over %d positions %.3g, prefill %.3g, greedy %d/32 equal before the first difference%n",
        prompt.length, bf16.maxRelPerPosition, bf16.prefillRel, sameBf16);
    assertTrue(f32.maxRelPerPosition < 1e-4, "fp32 rel err " + f32.maxRelPerPosition);
    assertTrue(bf16.maxRelPerPosition < 1e-2, "bf16 rel err " + bf16.maxRelPerPosition);
    assertTrue(bf16.prefillRel < 1e-2, "bf16 prefill rel err " + bf16.prefillRel);
    assertArrayEquals(want, f32.greedy);
  }
}
