package io.prism.runtime.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.format.ModelFormatException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Llama2cLoaderTest {

  @Test
  void loadsStories260KWithSharedClassifier() {
    Path bin = SharedModels.file("stories260K.bin");
    ModelWeights w = Llama2cLoader.load(bin);
    ModelConfig c = w.config;
    // shape documented in ../shared/models/README.md
    assertEquals(64, c.dim());
    assertEquals(172, c.hiddenDim());
    assertEquals(5, c.numLayers());
    assertEquals(8, c.numHeads());
    assertEquals(4, c.numKvHeads());
    assertEquals(512, c.vocabSize());
    assertEquals(512, c.maxSeqLen());
    assertTrue(c.sharedClassifier());
    assertSame(w.tokenEmbedding, w.classifier);
    assertEquals("stories260K", c.name());
    assertTrue(Float.isFinite(w.finalNorm[0]));
  }

  @Test
  void placesEveryTensorAtItsFileOffsetIncludingAnUnsharedClassifier(@TempDir Path dir) throws IOException {
    ModelConfig c = new ModelConfig("tiny", 8, 12, 2, 2, 1, 10, 6, 10000f, null, 1e-5f, false);
    Path file = dir.resolve("tiny.bin");
    writeCheckpoint(file, c, -c.vocabSize(), 0);
    ModelWeights w = Llama2cLoader.load(file);
    assertFalse(w.config.sharedClassifier());
    assertNotSame(w.tokenEmbedding, w.classifier);
    // every float holds its own index in the weight section, so a tensor's first value is its offset
    long off = 0;
    off = expectStart(w.tokenEmbedding, off);
    off = expectStart(w.attnNorm, off);
    off = expectStart(w.wq, off);
    off = expectStart(w.wk, off);
    off = expectStart(w.wv, off);
    off = expectStart(w.wo, off);
    off = expectStart(w.ffnNorm, off);
    off = expectStart(w.w1, off);
    off = expectStart(w.w2, off);
    off = expectStart(w.w3, off);
    off = expectStart(w.finalNorm, off);
    off += (long) c.maxSeqLen() * c.headDim(); // freq_cis_real + imag
    expectStart(w.classifier, off);
    assertEquals(w.classifier[w.classifier.length - 1], off + w.classifier.length - 1);
  }

  @Test
  void reportsTruncatedFileWithExpectedAndFoundSizes(@TempDir Path dir) throws IOException {
    byte[] all = Files.readAllBytes(SharedModels.file("stories260K.bin"));
    Path cut = dir.resolve("cut.bin");
    Files.write(cut, Arrays.copyOf(all, all.length - 100));
    ModelFormatException e = assertThrows(ModelFormatException.class, () -> Llama2cLoader.load(cut));
    String m = e.getMessage();
    assertTrue(m.startsWith("cut.bin: file size: expected " + all.length + " bytes"), m);
    assertTrue(m.contains("found " + (all.length - 100)) && m.contains("truncated"), m);
  }

  @Test
  void reportsFileShorterThanHeader(@TempDir Path dir) throws IOException {
    Path f = dir.resolve("short.bin");
    Files.write(f, new byte[10]);
    ModelFormatException e = assertThrows(ModelFormatException.class, () -> Llama2cLoader.readConfig(f));
    assertTrue(e.getMessage().contains("expected at least 28 bytes, found 10"), e.getMessage());
  }

  @Test
  void reportsInvalidHeaderField(@TempDir Path dir) throws IOException {
    Path f = dir.resolve("bad.bin");
    Files.write(f, header(-3, 12, 2, 2, 1, 10, 6));
    ModelFormatException e = assertThrows(ModelFormatException.class, () -> Llama2cLoader.load(f));
    assertEquals("bad.bin: header field dim: expected > 0, found -3", e.getMessage());
    Files.write(f, header(8, 12, 2, 3, 1, 10, 6));
    e = assertThrows(ModelFormatException.class, () -> Llama2cLoader.load(f));
    assertTrue(e.getMessage().contains("n_heads") && e.getMessage().contains("found 3"), e.getMessage());
  }

  @Test
  void rejectsVersionOneExportMagic(@TempDir Path dir) throws IOException {
    Path f = dir.resolve("v1.bin");
    Files.write(f, header(0x616b3432, 1, 0, 0, 0, 0, 0));
    ModelFormatException e = assertThrows(ModelFormatException.class, () -> Llama2cLoader.load(f));
    assertTrue(e.getMessage().contains("ak42"), e.getMessage());
  }

  @Test
  void probeTellsCheckpointsFromTokenizers() {
    assertTrue(Llama2cLoader.probe(SharedModels.file("stories260K.bin")).isPresent());
    assertTrue(Llama2cLoader.probe(SharedModels.file("tok512.bin")).isEmpty());
    assertTrue(Llama2cLoader.probe(SharedModels.file("tokenizer.bin")).isEmpty());
  }

  private static long expectStart(float[] a, long off) {
    assertEquals((float) off, a[0], "tensor starting at float " + off);
    return off + a.length;
  }

  static byte[] header(int... fields) {
    ByteBuffer b = ByteBuffer.allocate(4 * fields.length).order(ByteOrder.LITTLE_ENDIAN);
    for (int f : fields) b.putInt(f);
    return b.array();
  }

  /** Writes a version-0 checkpoint of shape {@code c} whose i-th weight float is {@code i + base}. */
  static void writeCheckpoint(Path file, ModelConfig c, int headerVocab, float base) throws IOException {
    long floats = (Llama2cLoader.expectedFileBytes(c) - Llama2cLoader.HEADER_BYTES) / 4;
    ByteBuffer b = ByteBuffer.allocate((int) (28 + floats * 4)).order(ByteOrder.LITTLE_ENDIAN);
    b.put(header(c.dim(), c.hiddenDim(), c.numLayers(), c.numHeads(), c.numKvHeads(), headerVocab, c.maxSeqLen()));
    for (long i = 0; i < floats; i++) b.putFloat(i + base);
    Files.write(file, b.array());
  }
}
