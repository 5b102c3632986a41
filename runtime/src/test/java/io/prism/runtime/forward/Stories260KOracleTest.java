package io.prism.runtime.forward;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.prism.runtime.model.Llama2cLoader;
import io.prism.runtime.model.ModelWeights;
import io.prism.runtime.model.SharedModels;
import io.prism.runtime.sampling.SamplingParams;
import io.prism.runtime.tokenizer.SentencePieceTokenizer;
import io.prism.runtime.tokenizer.StreamingDetokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The acceptance checks of issue 2 against ../shared/models/oracle, the output of llama2.c's run.c
 * for stories260K: greedy token ids and text, the prompted run, first-step logits. llama2.c counts
 * {@code steps} as positions including BOS and the prompt, and ends a story when it samples BOS.
 */
class Stories260KOracleTest {
  private static ModelWeights weights;
  private static SentencePieceTokenizer tokenizer;
  private static SimpleGenerator generator;

  @BeforeAll
  static void load() {
    weights = Llama2cLoader.load(SharedModels.file("stories260K.bin"));
    tokenizer = SentencePieceTokenizer.fromLlama2cFile(SharedModels.file("tok512.bin"));
    generator = new SimpleGenerator(weights, 1, weights.config.maxSeqLen(), 2);
  }

  @AfterAll
  static void close() {
    generator.close();
  }

  private static String oracle(String name) throws IOException {
    return Files.readString(SharedModels.file("oracle/" + name), StandardCharsets.UTF_8);
  }

  /** llama2.c's steps: forward passes at positions [0, steps); the first prompt.length - 1 only replay the prompt. */
  private static int[] greedy(int[] prompt, int steps) {
    int bos = tokenizer.bosId();
    return generator.generate(prompt, SamplingParams.greedy(steps - prompt.length + 1), new int[] {bos}, null);
  }

  @Test
  void firstStepLogitsAfterBosMatchTheReferenceWithin1e4() throws IOException {
    float[] expected = parseFloats(oracle("stories260K_logits_pos0_after_BOS.txt"));
    assertEquals(weights.config.vocabSize(), expected.length);
    generator.reset(0);
    float[][] logits = new float[1][weights.config.vocabSize()];
    generator.step(new int[] {0}, new int[][] {{tokenizer.bosId()}}, logits);
    for (int i = 0; i < expected.length; i++) assertEquals(expected[i], logits[0][i], 1e-4f, "logit " + i);
  }

  @Test
  void greedyWithoutPromptGivesTheReferenceTokenIdsAndText() throws IOException {
    int[] expectedIds = Arrays.stream(oracle("stories260K_t0_n200_token_ids.txt").trim().split("\\s+")).mapToInt(Integer::parseInt).toArray();
    int[] ids = greedy(new int[] {tokenizer.bosId()}, 200);
    assertArrayEquals(expectedIds, ids);
    // run.c prints each piece and a final newline
    assertEquals(oracle("stories260K_t0_n200_noprompt.txt"), tokenizer.decode(ids) + "\n");
  }

  @Test
  void greedyAfterOnceUponATimeGivesTheReferenceText() throws IOException {
    String prompt = "Once upon a time";
    int[] promptIds = tokenizer.encode(prompt, true, false);
    int[] ids = greedy(promptIds, 256);
    StreamingDetokenizer d = new StreamingDetokenizer(tokenizer, promptIds[promptIds.length - 1]);
    StringBuilder text = new StringBuilder(prompt);
    for (int id : ids) text.append(d.next(id));
    text.append(d.flush());
    assertEquals(oracle("stories260K_t0_n256_prompt_Once_upon_a_time.txt"), text + "\n");
  }

  private static float[] parseFloats(String s) {
    List<String> parts = Arrays.stream(s.trim().split("\\s+")).toList();
    float[] f = new float[parts.size()];
    for (int i = 0; i < f.length; i++) f[i] = Float.parseFloat(parts.get(i));
    return f;
  }
}
