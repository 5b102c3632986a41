package io.prism.runtime.sampling;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Logit bias, penalties, min-p and log probabilities on small rows, against the formulas written out by hand. */
class LogitProcessingTest {
  private static SamplingParams base(float temperature) {
    return new SamplingParams(temperature, 1f, 0, 1L, 16, List.of(), false);
  }

  private static TokenCounts counts(int[] prompt, boolean trackPrompt, int... output) {
    TokenCounts c = new TokenCounts(prompt, trackPrompt);
    for (int t : output) c.addOutput(t);
    return c;
  }

  @Test
  void frequencyAndPresencePenaltiesSubtractPerOccurrenceAndOnceOverTheOutputOnly() {
    float[] row = {1f, 2f, -3f, 0.5f, 4f};
    SamplingParams p = base(1f).withProcessing(0f, 0.3f, 0.5f, 1f, Map.of());
    // prompt has token 4 (not counted by OpenAI's penalties); output: 1 twice, 2 once
    float[] out = row.clone();
    LogitAdjustment.of(p, counts(new int[] {4}, false, 1, 2, 1)).apply(out);
    assertEquals(1f, out[0]);
    assertEquals(2f - 2 * 0.5f - 0.3f, out[1], 1e-6f);
    assertEquals(-3f - 1 * 0.5f - 0.3f, out[2], 1e-6f);
    assertEquals(0.5f, out[3]);
    assertEquals(4f, out[4], "prompt tokens are not penalised by presence/frequency");
  }

  @Test
  void repetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOfPromptAndOutputTokens() {
    float[] row = {1f, 2f, -3f, 0.5f, 4f, -1f};
    SamplingParams p = base(1f).withProcessing(0f, 0f, 0f, 2f, Map.of());
    float[] out = row.clone();
    LogitAdjustment.of(p, counts(new int[] {4, 5}, true, 1, 2)).apply(out);
    assertEquals(1f, out[0]);
    assertEquals(1f, out[1], 1e-6f); // 2 / 2
    assertEquals(-6f, out[2], 1e-6f); // -3 * 2
    assertEquals(0.5f, out[3]);
    assertEquals(2f, out[4], 1e-6f); // prompt token 4 / 2
    assertEquals(-2f, out[5], 1e-6f); // prompt token -1 * 2
    // a penalty below 1 rewards repetition the same way
    float[] reward = row.clone();
    LogitAdjustment.of(base(1f).withProcessing(0f, 0f, 0f, 0.5f, Map.of()), counts(new int[] {4}, true)).apply(reward);
    assertEquals(8f, reward[4], 1e-6f);
  }

  @Test
  void logitBiasIsAddedBeforeTheRepetitionPenaltyAndThenFrequencyApplies() {
    float[] row = {-1f, 3f, 0f};
    SamplingParams p = base(1f).withProcessing(0f, 0f, 1f, 2f, Map.of(0, 3f, 2, -100f));
    float[] out = row.clone();
    LogitAdjustment.of(p, counts(new int[] {1}, true, 0)).apply(out);
    assertEquals((-1f + 3f) / 2f - 1f, out[0], 1e-6f); // biased to 2 (positive): divided, then frequency 1 x 1
    assertEquals(3f / 2f, out[1], 1e-6f); // prompt token
    assertEquals(-100f, out[2], 1e-6f); // unseen: bias only
  }

  @Test
  void noPenaltyMeansNoAdjustmentAndUnknownTokensAreRefused() {
    assertTrue(LogitAdjustment.of(base(1f), null).isEmpty());
    LogitAdjustment a = LogitAdjustment.of(base(1f).withProcessing(0f, 0f, 0f, 1f, Map.of(7, 1f)), null);
    assertEquals(1, a.size());
    assertThrows(IllegalArgumentException.class, () -> a.apply(new float[5]));
  }

  @Test
  void tokenCountsTrackManyDistinctTokensInFirstSeenOrder() {
    TokenCounts c = new TokenCounts(new int[] {9, 9, 3}, true);
    for (int i = 0; i < 1000; i++) c.addOutput(i % 300 * 7);
    assertEquals(2 + 300, c.distinct(), "prompt tokens 9 and 3, and 300 multiples of 7");
    assertEquals(9, c.token(0));
    assertEquals(3, c.token(1));
    assertEquals(4, c.outputCountOf(0)); // i % 300 == 0 for i = 0, 300, 600, 900
    assertEquals(3, c.outputCountOf(299 * 7));
    assertEquals(0, c.outputCountOf(9));
    assertEquals(1000, c.outputTokens());
  }

  @Test
  void minPDropsTokensBelowItsShareOfTheLargestProbability() {
    float[] row = {2f, 1.9f, 0f, -1f, 1.5f};
    double max = Math.exp(2);
    SamplingParams p = base(1f).withProcessing(0.5f, 0f, 0f, 1f, Map.of());
    Set<Integer> seen = new HashSet<>();
    SplittableRandom rng = new SplittableRandom(3);
    for (int i = 0; i < 4000; i++) seen.add(Sampler.sample(row, p, rng));
    Set<Integer> allowed = new HashSet<>();
    for (int t = 0; t < row.length; t++) if (Math.exp(row[t]) >= 0.5 * max) allowed.add(t);
    assertEquals(allowed, seen); // 0, 1, 4 (exp(1.5)/exp(2) = 0.61); never 2 or 3
    SamplingParams one = base(1f).withProcessing(1f, 0f, 0f, 1f, Map.of());
    for (int i = 0; i < 200; i++) assertEquals(0, Sampler.sample(row, one, rng));
  }

  @Test
  void minPIsOffByDefaultSoSeededDrawsDoNotChange() {
    float[] row = new float[50];
    SplittableRandom r = new SplittableRandom(1);
    for (int i = 0; i < row.length; i++) row[i] = (float) r.nextGaussian();
    SamplingParams plain = base(0.8f);
    SamplingParams zeroMinP = plain.withProcessing(0f, 0f, 0f, 1f, Map.of());
    SplittableRandom a = new SplittableRandom(5), b = new SplittableRandom(5);
    for (int i = 0; i < 100; i++) assertEquals(Sampler.sample(row, plain, a), Sampler.sample(row, zeroMinP, b));
  }

  @Test
  void logprobsAreTheTemperedLogSoftmaxAndTopAlternativesAreSortedWithTiesByLowerId() {
    float[] row = {0.5f, 3f, -2f, 3f, 1f, 0f};
    float t = 0.7f;
    TokenLogprobs lp = Sampler.logprobs(row, t, 4, 4);
    double z = 0;
    for (float x : row) z += Math.exp(x / t);
    assertEquals(Math.log(Math.exp(1f / t) / z), lp.logprob(), 1e-6);
    assertArrayEquals(new int[] {1, 3, 4, 0}, lp.topIds());
    for (int i = 0; i < 4; i++) assertEquals(Math.log(Math.exp(row[lp.topIds()[i]] / t) / z), lp.topLogprobs()[i], 1e-6);
    TokenLogprobs greedy = Sampler.logprobs(row, 0f, 1, 2);
    double z1 = 0;
    for (float x : row) z1 += Math.exp(x);
    assertEquals(Math.log(Math.exp(3) / z1), greedy.logprob(), 1e-6, "greedy: the softmax at temperature 1");
    assertEquals(0, Sampler.logprobs(row, 1f, 0, 0).topIds().length);
    assertEquals(row.length, Sampler.logprobs(row, 1f, 0, 20).topIds().length, "at most the vocabulary");
  }

  @Test
  void topProbabilitiesNeverSumAboveOneAndGreedyTokensHaveTheTopLogprob() {
    SplittableRandom r = new SplittableRandom(11);
    for (int trial = 0; trial < 200; trial++) {
      float[] row = new float[1 + r.nextInt(300)];
      float scale = trial % 3 == 0 ? 40f : 3f; // some rows nearly one-hot
      for (int i = 0; i < row.length; i++) row[i] = (float) (r.nextGaussian() * scale);
      float temperature = trial % 4 == 0 ? 0f : 0.1f + r.nextFloat() * 1.9f;
      SamplingParams p = new SamplingParams(temperature, 1f, 0, (long) trial, 16, List.of(), false);
      int token = Sampler.sample(row, p, new SplittableRandom(trial));
      TokenLogprobs lp = Sampler.logprobs(row, temperature, token, 20);
      double mass = 0;
      for (float v : lp.topLogprobs()) {
        assertTrue(v <= 0f);
        mass += Math.exp(v);
      }
      assertTrue(mass <= 1 + 1e-6, "top mass " + mass);
      for (int i = 1; i < lp.topLogprobs().length; i++) assertTrue(lp.topLogprobs()[i] <= lp.topLogprobs()[i - 1]);
      if (temperature == 0f) {
        assertEquals(lp.topIds()[0], token);
        assertEquals(lp.topLogprobs()[0], lp.logprob());
      }
      assertTrue(lp.logprob() <= lp.topLogprobs()[0]);
    }
  }

  @Test
  void badFieldsAreRefusedNamingThem() {
    SamplingParams b = base(1f);
    assertTrue(assertThrows(IllegalArgumentException.class, () -> b.withProcessing(0f, 2.5f, 0f, 1f, Map.of())).getMessage().contains("presence_penalty"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> b.withProcessing(0f, 0f, -2.1f, 1f, Map.of())).getMessage().contains("frequency_penalty"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> b.withProcessing(0f, 0f, 0f, 0f, Map.of())).getMessage().contains("repetition_penalty"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> b.withProcessing(1.5f, 0f, 0f, 1f, Map.of())).getMessage().contains("min_p"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> b.withProcessing(0f, 0f, 0f, 1f, Map.of(1, 101f))).getMessage().contains("logit_bias"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> b.withLogprobs(21)).getMessage().contains("logprobs"));
    assertEquals(7L + 3, b.withSeed(7L).choiceSeed(3));
    assertEquals(null, b.withSeed(null).choiceSeed(3));
    assertNotEquals(b, b.withN(2));
  }
}
