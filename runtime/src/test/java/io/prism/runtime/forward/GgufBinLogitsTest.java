package io.prism.runtime.forward;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.model.ModelLoader;
import io.prism.runtime.model.SharedModels;
import io.prism.runtime.sampling.SamplingParams;
import org.junit.jupiter.api.Test;

/**
 * Issue 2: "The GGUF file and the .bin file give the same logits". Both stories260K files go
 * through {@link ModelLoader} and the host forward pass with llama2.c's adjacent-pair RoPE.
 */
class GgufBinLogitsTest {

  @Test
  void ggufAndLlama2cCheckpointGiveIdenticalLogitsAndGreedyText() {
    LoadedModel bin = ModelLoader.load(SharedModels.file("stories260K.bin").toString(), null);
    LoadedModel gguf = ModelLoader.load(SharedModels.file("stories260K.gguf").toString(), null);
    int[] prompt = bin.tokenizer().encode("Once upon a time", true, false);
    assertArrayEquals(prompt, gguf.tokenizer().encode("Once upon a time", true, false));
    int vocab = bin.config().vocabSize();
    try (SimpleGenerator a = new SimpleGenerator(bin.weights(), 1, 64, 1);
        SimpleGenerator b = new SimpleGenerator(gguf.weights(), 1, 64, 1)) {
      float[][] la = new float[1][vocab], lb = new float[1][vocab];
      for (int token : prompt) {
        a.step(new int[] {0}, new int[][] {{token}}, la);
        b.step(new int[] {0}, new int[][] {{token}}, lb);
        assertArrayEquals(la[0], lb[0], "logits after token " + token);
      }
      a.reset(0);
      b.reset(0);
      int[] stop = {bin.tokenizer().bosId()};
      int[] outA = a.generate(prompt, SamplingParams.greedy(40), stop, null);
      int[] outB = b.generate(prompt, SamplingParams.greedy(40), stop, null);
      assertArrayEquals(outA, outB);
      assertEquals(bin.tokenizer().decode(outA), gguf.tokenizer().decode(outB));
    }
  }
}
