package io.prism.runtime.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.tokenizer.SentencePieceTokenizer;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class RandomModelsTest {

  @Test
  void sameSeedGivesSameWeightsAndAnotherSeedDifferent() {
    ModelConfig c = RandomModels.config("random:stories260K");
    ModelWeights a = RandomModels.weights(c, 7), b = RandomModels.weights(c, 7), other = RandomModels.weights(c, 8);
    assertArrayEquals(a.tokenEmbedding, b.tokenEmbedding);
    assertArrayEquals(a.wq, b.wq);
    assertArrayEquals(a.w2, b.w2);
    assertFalse(Arrays.equals(a.wq, other.wq));
    assertFalse(Arrays.equals(a.wq, a.wk), "tensors differ from each other");
  }

  @Test
  void weightsAreSmallZeroMeanAndNormsAreOne() {
    ModelWeights w = RandomModels.weights(RandomModels.config("stories15M"), 1);
    double sum = 0, sq = 0;
    for (float x : w.w1) {
      assertTrue(Math.abs(x) <= RandomModels.AMPLITUDE);
      sum += x;
      sq += x * x;
    }
    double mean = sum / w.w1.length, std = Math.sqrt(sq / w.w1.length - mean * mean);
    assertEquals(0, mean, 1e-4);
    assertEquals(0.02, std, 1e-4);
    for (float x : w.attnNorm) assertEquals(1f, x);
    for (float x : w.finalNorm) assertEquals(1f, x);
    assertTrue(w.classifier == w.tokenEmbedding);
  }

  @Test
  void shapesHaveTheirPublishedParameterCounts() {
    // published sizes (model names / cards); the random Qwen shape omits q/k/v biases (~0.001%)
    assertNear(15.2e6, RandomModels.config("stories15M").parameterCount());
    assertNear(41.7e6, RandomModels.config("stories42M").parameterCount());
    assertNear(109.5e6, RandomModels.config("stories110M").parameterCount());
    assertNear(1.236e9, RandomModels.config("llama-3.2-1b").parameterCount());
    assertNear(3.213e9, RandomModels.config("llama-3.2-3b").parameterCount());
    assertNear(8.03e9, RandomModels.config("llama-3.1-8b").parameterCount());
    assertNear(7.62e9, RandomModels.config("qwen2.5-7b").parameterCount());
    ModelConfig l3 = RandomModels.config("llama-3.2-1b");
    assertEquals(64, l3.headDim());
    assertEquals(new RopeScaling(32f, 1f, 4f, 8192), l3.ropeScaling());
    assertEquals(1e-6f, RandomModels.config("qwen2.5-7b").normEps());
  }

  @Test
  void refusesWeightsOverTheHostLimit() {
    ModelConfig c = RandomModels.config("stories15M");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> RandomModels.weights(c, 1, 1 << 20));
    assertTrue(e.getMessage().contains("stories15M"), e.getMessage());
  }

  @Test
  void syntheticVocabularyHasExactSizeAndRoundTripsAnyText() {
    for (int size : new int[] {354, 1000, 152064}) {
      SentencePieceTokenizer t = RandomModels.syntheticTokenizer(size);
      assertEquals(size, t.vocabSize());
      String text = "the quick brown fox, café ☃ 世界";
      int[] ids = t.encode(text, false, false);
      assertEquals(text, t.decode(ids));
    }
    assertThrows(IllegalArgumentException.class, () -> RandomModels.syntheticTokenizer(300));
  }

  private static void assertNear(double expected, long actual) {
    assertTrue(Math.abs(actual - expected) / expected < 0.01, "expected about " + expected + ", found " + actual);
  }
}
