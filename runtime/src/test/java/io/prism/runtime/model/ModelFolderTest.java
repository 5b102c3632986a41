package io.prism.runtime.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.format.ModelFormatException;
import io.prism.runtime.forward.ReferenceModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Model specs that are Hugging Face folders (sharded or not) and GGUF files of every supported
 * architecture load through {@link ModelLoader} (the path every backend and registration takes),
 * and bad folders fail with messages that say what is wrong.
 */
class ModelFolderTest {
  /** A word-level tokenizer.json of {@code n} tokens "t0".."t{n-1}" (enough for the loader; tokenizers are tested elsewhere). */
  static void writeTokenizer(Path dir, int n) throws IOException {
    StringBuilder vocab = new StringBuilder();
    for (int i = 0; i < n; i++) vocab.append(i == 0 ? "" : ",").append("\"t").append(i).append("\":").append(i);
    Files.writeString(dir.resolve("tokenizer.json"), "{\"version\":\"1.0\",\"added_tokens\":[],\"normalizer\":null,"
        + "\"pre_tokenizer\":{\"type\":\"Whitespace\"},\"post_processor\":null,\"decoder\":null,"
        + "\"model\":{\"type\":\"WordLevel\",\"vocab\":{" + vocab + "},\"unk_token\":\"t0\"}}");
  }

  static Path copyReference(String name, Path to) throws IOException {
    Path dst = Files.createDirectories(to.resolve(name + "-hf"));
    try (Stream<Path> s = Files.list(ReferenceModels.dir(name))) {
      for (Path p : s.toList()) Files.copy(p, dst.resolve(p.getFileName()));
    }
    return dst;
  }

  @Test
  void loadsShardedAndSingleFileFoldersWithTheirTokenizer(@TempDir Path dir) throws IOException {
    for (String name : ReferenceModels.NAMES) {
      Path f = copyReference(name, dir);
      writeTokenizer(f, 256);
      LoadedModel m = ModelLoader.load(f.toString(), null);
      assertEquals(name + "-hf", m.id());
      assertEquals(name, m.config().architecture().label());
      assertEquals(256, m.tokenizer().vocabSize());
      ModelWeights direct = SafetensorsLoader.weights(ReferenceModels.dir(name), m.config());
      assertArrayEquals(direct.wq, m.weights().wq, name);
      assertArrayEquals(direct.w2, m.weights().w2, name);
      assertArrayEquals(direct.classifier, m.weights().classifier, name);
      LoadedModel shape = ModelLoader.loadConfigOnly(f.toString(), null);
      assertEquals(m.config(), shape.config());
      assertEquals(null, shape.weights());
    }
    assertTrue(Files.exists(dir.resolve("mistral-hf/model.safetensors.index.json")), "mistral is the sharded one");
    Map<String, Path> found = ModelLoader.discover(dir);
    assertEquals(java.util.List.of("llama-hf", "mistral-hf", "qwen2-hf", "qwen3-hf"), java.util.List.copyOf(found.keySet()));
  }

  @Test
  void folderWithoutTokenizerIsAClearError(@TempDir Path dir) throws IOException {
    Path f = copyReference("qwen2", dir);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelLoader.load(f.toString(), null));
    assertTrue(e.getMessage().endsWith("qwen2-hf has no tokenizer.json; add the model's tokenizer.json"), e.getMessage());
  }

  @Test
  void unknownArchitectureNamesItAndTheSupportedOnes(@TempDir Path dir) throws IOException {
    Path f = copyReference("llama", dir);
    writeTokenizer(f, 256);
    String cfg = Files.readString(f.resolve("config.json")).replace("LlamaForCausalLM", "GemmaForCausalLM");
    Files.writeString(f.resolve("config.json"), cfg);
    ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelLoader.load(f.toString(), null));
    assertTrue(e.getMessage().endsWith("config.json: architectures: unsupported architecture \"GemmaForCausalLM\"; supported: "
        + "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM"), e.getMessage());
  }

  @Test
  void slidingWindowAndExtraBiasesAreRefusedOrCapped(@TempDir Path dir) throws IOException {
    Path q = copyReference("qwen2", dir);
    Files.writeString(q.resolve("config.json"), Files.readString(q.resolve("config.json")).replace("\"use_sliding_window\": false", "\"use_sliding_window\": true"));
    ModelFormatException e = assertThrows(ModelFormatException.class, () -> SafetensorsLoader.config(q, 0));
    assertTrue(e.getMessage().contains("use_sliding_window true is not supported"), e.getMessage());
    Path m = copyReference("mistral", dir);
    Files.writeString(m.resolve("config.json"), Files.readString(m.resolve("config.json")).replace("\"sliding_window\": null", "\"sliding_window\": 100"));
    assertEquals(100, SafetensorsLoader.config(m, 0).maxSeqLen());
    Path l = copyReference("llama", dir);
    Files.writeString(l.resolve("config.json"), Files.readString(l.resolve("config.json")).replace("\"attention_bias\": false", "\"attention_bias\": true"));
    e = assertThrows(ModelFormatException.class, () -> SafetensorsLoader.config(l, 0));
    assertTrue(e.getMessage().contains("attention_bias true is not supported for LlamaForCausalLM"), e.getMessage());
  }
}
