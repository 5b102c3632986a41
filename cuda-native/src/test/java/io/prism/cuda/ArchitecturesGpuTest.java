package io.prism.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.prism.runtime.model.Architecture;
import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.model.ModelWeights;
import io.prism.runtime.model.SafetensorsLoader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Llama, Qwen2 (q/k/v bias), Qwen3 (q/k norm, head_dim * heads != hidden) and Mistral on the CUDA
 * backend against transformers (the tiny reference models of {@code runtime/src/test/resources/
 * reference-models}, property {@code prism.reference.models} or found from the working directory)
 * and against the host backend (random models of each architecture, 1024 wide, 4 layers): float32
 * logits within 1e-4 relative, bf16 within 1e-2 (the tolerance of {@link HfLlamaGpuTest}), greedy
 * tokens of the float32 device path equal to the host's for 32 steps.
 */
@Tag("gpu")
class ArchitecturesGpuTest {
  static final int STEPS = 32;

  static Path referenceModels() {
    String p = System.getProperty("prism.reference.models");
    Path found = Stream.of(p == null ? null : Path.of(p), Path.of("runtime/src/test/resources/reference-models"),
            Path.of("../runtime/src/test/resources/reference-models"))
        .filter(x -> x != null && Files.isDirectory(x)).findFirst().orElse(null);
    assumeTrue(found != null, "reference models not found (set prism.reference.models)");
    return found;
  }

  static float[][] refLogits(Path dir, int vocab) {
    try {
      ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(dir.resolve("logits.f32"))).order(ByteOrder.LITTLE_ENDIAN);
      float[][] out = new float[b.remaining() / 4 / vocab][vocab];
      for (float[] row : out) for (int i = 0; i < vocab; i++) row[i] = b.getFloat();
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static final int[] PROMPT = {1, 17, 200, 5, 255, 42, 7, 128, 64, 3, 100, 11}; // make_reference_models.py

  @ParameterizedTest
  @ValueSource(strings = {"llama", "qwen2", "qwen3", "mistral"})
  void tinyReferenceModelMatchesTransformersAndTheHost(String name) {
    Path dir = referenceModels().resolve(name);
    ModelConfig c = SafetensorsLoader.config(dir, 0);
    ModelWeights w = SafetensorsLoader.weights(dir, c);
    float[][] ref = refLogits(dir, c.vocabSize());
    ArchRuns.Run host = ArchRuns.host(w, PROMPT, STEPS);
    ArchRuns.Run f32 = ArchRuns.cuda(Precision.FP32, w, null, PROMPT, STEPS);
    ArchRuns.Run bf16 = ArchRuns.cuda(Precision.BF16, w, null, PROMPT, STEPS);
    double e32 = ArchRuns.worstRel(f32.perPosition(), ref), e16 = ArchRuns.worstRel(bf16.perPosition(), ref);
    double p32 = TestModels.relativeError(f32.prefill(), ref[PROMPT.length - 1]), p16 = TestModels.relativeError(bf16.prefill(), ref[PROMPT.length - 1]);
    System.out.printf("%s (tiny, transformers): fp32 rel err %.3g (prefill %.3g), bf16 %.3g (prefill %.3g), greedy fp32 = host %d/%d, bf16 = host %d/%d%n",
        name, e32, p32, e16, p16, ArchRuns.agree(f32.greedy(), host.greedy()), STEPS, ArchRuns.agree(bf16.greedy(), host.greedy()), STEPS);
    assertTrue(e32 < 1e-4 && p32 < 1e-4, name + " fp32 rel err " + e32 + " / " + p32);
    assertTrue(e16 < 1e-2 && p16 < 1e-2, name + " bf16 rel err " + e16 + " / " + p16);
    assertArrayEquals(host.greedy(), f32.greedy(), name + " greedy fp32 vs host");
  }

  @ParameterizedTest
  @EnumSource(Architecture.class)
  void randomModelOfEachArchitectureMatchesTheHost(Architecture a) {
    ModelWeights w = ArchRuns.randomModel(a, 17);
    int[] prompt = ArchRuns.prompt(20, w.config.vocabSize(), 5);
    ArchRuns.Run host = ArchRuns.host(w, prompt, STEPS);
    ArchRuns.Run f32 = ArchRuns.cuda(Precision.FP32, w, null, prompt, STEPS);
    ArchRuns.Run bf16 = ArchRuns.cuda(Precision.BF16, w, null, prompt, STEPS);
    double e32 = ArchRuns.worstRel(f32.perPosition(), host.perPosition()), e16 = ArchRuns.worstRel(bf16.perPosition(), host.perPosition());
    double p16 = TestModels.relativeError(bf16.prefill(), host.prefill());
    System.out.printf("%s (random 1024 x 4 layers): fp32 rel err %.3g, bf16 %.3g (prefill %.3g), greedy fp32 = host %d/%d, bf16 = host %d/%d%n",
        a, e32, e16, p16, ArchRuns.agree(f32.greedy(), host.greedy()), STEPS, ArchRuns.agree(bf16.greedy(), host.greedy()), STEPS);
    assertTrue(e32 < 1e-4, a + " fp32 rel err " + e32);
    assertTrue(e16 < 1e-2 && p16 < 1e-2, a + " bf16 rel err " + e16 + " / " + p16);
    assertArrayEquals(host.greedy(), f32.greedy(), a + " greedy fp32 vs host");
  }
}
