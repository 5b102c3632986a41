package io.prism.actors.gpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import io.prism.actors.frontend.GenerateRequest;
import io.prism.runtime.sampling.SamplingParams;
import io.prism.runtime.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class PromptTokensTest {
  /** One token per byte (ids 0-255), BOS 256 when it has one, EOS 257; refuses BOS it lacks, as HuggingFaceJsonTokenizer does. */
  private record ByteTokenizer(int bosId) implements Tokenizer {
    @Override
    public int vocabSize() {
      return 258;
    }

    @Override
    public int eosId() {
      return 257;
    }

    @Override
    public int[] encode(String text, boolean bos, boolean eos) {
      if (bos && bosId < 0) throw new IllegalArgumentException("no BOS token");
      byte[] b = text.getBytes(StandardCharsets.UTF_8);
      int off = bos ? 1 : 0;
      int[] out = new int[b.length + off + (eos ? 1 : 0)];
      if (bos) out[0] = bosId;
      for (int i = 0; i < b.length; i++) out[off + i] = b[i] & 0xff;
      if (eos) out[out.length - 1] = eosId();
      return out;
    }

    @Override
    public byte[] decodeBytes(int previousId, int id) {
      return id < 256 ? new byte[] {(byte) id} : new byte[0];
    }
  }

  private static GenerateRequest completion(String prompt) {
    return new GenerateRequest("r", "m", prompt, null, true, SamplingParams.greedy(4));
  }

  @Test
  void textPromptGetsBosFirstWhenTheVocabularyHasOne() throws Exception {
    assertArrayEquals(new int[] {256, 'h', 'i'}, PromptTokens.of(completion("hi"), new ByteTokenizer(256)));
  }

  /** Qwen's vocabulary has no BOS: a completion prompt is its text's tokens (as Hugging Face encodes it), not a 400. */
  @Test
  void textPromptOfAVocabularyWithoutBosIsJustItsTokens() throws Exception {
    assertArrayEquals(new int[] {'h', 'i'}, PromptTokens.of(completion("hi"), new ByteTokenizer(-1)));
  }
}
