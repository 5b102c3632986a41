package io.prism.app.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.model.SharedModels;
import io.prism.runtime.tokenizer.SentencePieceTokenizer;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The CLI end to end on stories260K: greedy {@code generate} prints exactly the reference program's text. */
class PrismCliTest {
  private record Result(int exitCode, String out, String err) {}

  private static Result run(String... args) {
    CommandLine cl = PrismCli.commandLine();
    StringWriter out = new StringWriter(), err = new StringWriter();
    cl.setOut(new PrintWriter(out, true));
    cl.setErr(new PrintWriter(err, true));
    int code = cl.execute(args);
    return new Result(code, out.toString(), err.toString());
  }

  private static String oracle(String name) throws IOException {
    return Files.readString(SharedModels.file("oracle/" + name), StandardCharsets.UTF_8);
  }

  @Test
  void greedyGenerateAfterPromptPrintsTheReferenceText() throws IOException {
    String prompt = "Once upon a time";
    int promptTokens = SentencePieceTokenizer.fromLlama2cFile(SharedModels.file("tok512.bin")).encode(prompt, true, false).length;
    // run.c's 256 steps are positions, BOS and prompt included: 257 - promptTokens sampled tokens.
    Result r = run("generate", "--model", SharedModels.file("stories260K.bin").toString(), "--prompt", prompt,
        "--max-tokens", Integer.toString(257 - promptTokens), "--temperature", "0", "--threads", "2");
    assertEquals(0, r.exitCode(), r.err());
    assertEquals(oracle("stories260K_t0_n256_prompt_Once_upon_a_time.txt"), r.out());
    assertTrue(r.err().contains("achieved tok/s: "), r.err());
  }

  @Test
  void greedyGenerateWithoutPromptPrintsTheReferenceText() throws IOException {
    Result r = run("generate", "--model", SharedModels.file("stories260K.bin").toString(), "--max-tokens", "200", "--temperature", "0");
    assertEquals(0, r.exitCode(), r.err());
    assertEquals(oracle("stories260K_t0_n200_noprompt.txt"), r.out());
  }

  @Test
  void sameSeedSamplesTheSameText() {
    String model = SharedModels.file("stories260K.bin").toString();
    Result a = run("generate", "--model", model, "--prompt", "Lily", "--max-tokens", "40", "--seed", "7", "--top-k", "20");
    Result b = run("generate", "--model", model, "--prompt", "Lily", "--max-tokens", "40", "--seed", "7", "--top-k", "20");
    assertEquals(0, a.exitCode(), a.err());
    assertTrue(a.out().startsWith("Lily"), a.out());
    assertEquals(a.out(), b.out());
  }

  @Test
  void missingModelFileFailsWithExitCode1AndAMessage() {
    Result r = run("generate", "--model", "no/such/model.bin");
    assertEquals(1, r.exitCode());
    assertTrue(r.err().startsWith("prism: ") && r.err().contains("model.bin"), r.err());
  }

  @Test
  void benchCpuPrintsARowPerBatchSize() {
    Result r = run("bench", "cpu", "--models", "random:stories260K", "--steps", "4", "--rounds", "1", "--prompt-tokens", "2", "--threads", "1");
    assertEquals(0, r.exitCode(), r.err());
    long rows = r.out().lines().filter(l -> l.startsWith("random:stories260K")).count();
    assertEquals(2, rows, r.out());
  }
}
