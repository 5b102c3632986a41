package io.prism.runtime.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelLoaderTest {

  @Test
  void loadsCheckpointWithTheTokenizerOfMatchingSizeBesideIt() {
    LoadedModel m = ModelLoader.load(SharedModels.file("stories260K.bin").toString(), null);
    assertEquals("stories260K", m.id());
    assertEquals(512, m.tokenizer().vocabSize());
    assertEquals(m.config().vocabSize(), m.tokenizer().vocabSize());
    assertTrue(m.weights() != null);
  }

  @Test
  void ggufSharingAStemWithACheckpointGetsTheGgufSuffix() {
    LoadedModel m = ModelLoader.load(SharedModels.file("stories260K.gguf").toString(), null);
    assertEquals("stories260K-gguf", m.id());
    int[] viaGguf = m.tokenizer().encode("Once upon a time", true, false);
    int[] viaBin = ModelLoader.load(SharedModels.file("stories260K.bin").toString(), null).tokenizer().encode("Once upon a time", true, false);
    assertArrayEquals(viaBin, viaGguf);
  }

  @Test
  void discoversModelsButNotTokenizers() {
    Map<String, Path> found = ModelLoader.discover(SharedModels.file("stories260K.bin").getParent());
    assertEquals(List.of("stories260K", "stories260K-gguf"), List.copyOf(found.keySet()));
    assertEquals("stories260K.bin", found.get("stories260K").getFileName().toString());
    assertEquals("stories260K.gguf", found.get("stories260K-gguf").getFileName().toString());
  }

  @Test
  void ggufAloneKeepsItsStem(@TempDir Path dir) throws IOException {
    Files.copy(SharedModels.file("stories260K.gguf"), dir.resolve("stories260K.gguf"));
    Files.copy(SharedModels.file("tok512.bin"), dir.resolve("tok512.bin"));
    Files.writeString(dir.resolve("notes.bin"), "not a model");
    assertEquals(List.of("stories260K"), List.copyOf(ModelLoader.discover(dir).keySet()));
  }

  @Test
  void explainsMissingTokenizerAndWrongTokenizerSize(@TempDir Path dir) throws IOException {
    Path bin = Files.copy(SharedModels.file("stories260K.bin"), dir.resolve("m.bin"));
    Files.copy(SharedModels.file("tokenizer.bin"), dir.resolve("tokenizer.bin"));
    IllegalArgumentException none = assertThrows(IllegalArgumentException.class, () -> ModelLoader.load(bin.toString(), null));
    assertTrue(none.getMessage().contains("no llama2.c tokenizer with 512 tokens") && none.getMessage().contains("tokenizer.bin (32000 tokens)")
        && none.getMessage().contains("--tokenizer"), none.getMessage());
    IllegalArgumentException wrong = assertThrows(IllegalArgumentException.class, () -> ModelLoader.load(bin.toString(), dir.resolve("tokenizer.bin")));
    assertTrue(wrong.getMessage().contains("32000") && wrong.getMessage().contains("512"), wrong.getMessage());
    LoadedModel ok = ModelLoader.load(bin.toString(), SharedModels.file("tok512.bin"));
    assertEquals("m", ok.id());
  }

  @Test
  void rejectsUnknownSpecs() {
    assertThrows(IllegalArgumentException.class, () -> ModelLoader.load("random:gpt-5", null));
    assertThrows(IllegalArgumentException.class, () -> ModelLoader.load("/nonexistent/model.bin", null));
    assertThrows(IllegalArgumentException.class, () -> ModelLoader.load(SharedModels.file("README.md").toString(), null));
  }

  @Test
  void loadsRandomShapeWithTheLlamaVocabulary() {
    LoadedModel m = ModelLoader.load("random:stories15M", null);
    assertEquals("random:stories15M", m.id());
    assertEquals(32000, m.tokenizer().vocabSize());
    assertEquals("Hello", m.tokenizer().decode(m.tokenizer().encode("Hello", false, false)));
  }

  @Test
  void refusesHostWeightsOverTheLimitButLoadsConfigOnly() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelLoader.load("random:llama-3.1-8b", null));
    assertTrue(e.getMessage().contains("config-only"), e.getMessage());
    LoadedModel m = ModelLoader.loadConfigOnly("random:llama-3.1-8b", null);
    assertNull(m.weights());
    assertEquals(128256, m.tokenizer().vocabSize());
  }
}
