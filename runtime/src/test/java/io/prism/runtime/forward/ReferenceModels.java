package io.prism.runtime.forward;

import io.prism.runtime.engine.ForwardBatch;
import io.prism.runtime.memory.HostDeviceMemory;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.memory.PhysicalPage;
import io.prism.runtime.model.ModelWeights;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The tiny Hugging Face reference models under {@code src/test/resources/reference-models} (made by
 * {@code src/test/python/make_reference_models.py} with transformers) and a way to run them on the
 * host backend.
 */
public final class ReferenceModels {
  /** Token ids the reference logits were computed for (PROMPT in make_reference_models.py). */
  public static final int[] PROMPT = {1, 17, 200, 5, 255, 42, 7, 128, 64, 3, 100, 11};
  /** The architecture folders: llama, qwen2, qwen3 (head_dim 24 != 64 / 4 heads), mistral (sharded, untied). */
  public static final List<String> NAMES = List.of("llama", "qwen2", "qwen3", "mistral");

  private ReferenceModels() {}

  /** The folder of reference model {@code name}. */
  public static Path dir(String name) {
    try {
      return Path.of(ReferenceModels.class.getResource("/reference-models/" + name + "/config.json").toURI()).getParent();
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  /** transformers' float32 logits, {@code [PROMPT.length][vocab]}. */
  public static float[][] logits(String name, int vocab) {
    try {
      ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(dir(name).resolve("logits.f32"))).order(ByteOrder.LITTLE_ENDIAN);
      float[][] out = new float[b.remaining() / 4 / vocab][vocab];
      for (int r = 0; r < out.length; r++) for (int i = 0; i < vocab; i++) out[r][i] = b.getFloat((r * vocab + i) * 4);
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Host-backend logits of every position of {@code tokens}, fed one token per step (decode), plus,
   * as the last row, the logits of the whole prompt prefilled in one step on a second cache.
   */
  public static float[][] hostLogits(ModelWeights w, int[] tokens, int threads) {
    float[][] out = new float[tokens.length + 1][];
    try (Runner decode = new Runner(w, tokens.length, threads); Runner prefill = new Runner(w, tokens.length, threads)) {
      for (int p = 0; p < tokens.length; p++) out[p] = decode.step(new int[] {tokens[p]}, p);
      out[tokens.length] = prefill.step(tokens, 0);
    }
    return out;
  }

  /** One sequence on a host backend over a fully mapped host KV cache (64 KiB pages, blocks of 8). */
  public static final class Runner implements AutoCloseable {
    private final HostForwardBackend backend;
    private final int[] table;
    private final int vocab;

    public Runner(ModelWeights w, int maxTokens, int threads) {
      HostDeviceMemory mem = new HostDeviceMemory(64 << 10);
      KvCache kv = KvCache.reserve(mem, w.config, 8, 4, maxTokens);
      for (int p = 0; p < kv.maxPages(); p++) {
        List<PhysicalPage> pages = new ArrayList<>();
        for (int i = 0; i < kv.physicalPagesPerPageId(); i++) pages.add(mem.create());
        kv.map(p, pages);
      }
      backend = new HostForwardBackend(w, kv, threads);
      table = new int[(maxTokens + 7) / 8];
      for (int i = 0; i < table.length; i++) table[i] = i;
      vocab = w.config.vocabSize();
    }

    /** Feeds {@code tokens} at positions {@code startPos...}; returns the last token's logits. */
    public float[] step(int[] tokens, int startPos) {
      float[][] lg = new float[1][vocab];
      backend.forward(new ForwardBatch(List.of(new ForwardBatch.Entry(tokens, startPos, table, true))), lg);
      return lg[0];
    }

    @Override
    public void close() {
      backend.close();
    }
  }
}
