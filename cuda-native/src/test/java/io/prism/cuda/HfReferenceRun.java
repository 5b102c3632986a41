package io.prism.cuda;

import io.prism.runtime.engine.ForwardBatch;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.model.LoadedModel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * One model on the CUDA backend against a Hugging Face transformers reference folder (written by
 * {@code src/test/python/hf_llama_reference.py} or {@code hf_full_reference.py}): the logits of
 * every prompt position fed token by token, the last position of a one-step prefill, and 32 greedy
 * tokens. Used by {@link HfLlamaGpuTest} and {@link FullSizeArchitecturesGpuTest}.
 *
 * @param maxRelPerPosition worst relative error ({@link TestModels#relativeError}) over the prompt positions
 * @param prefillRel relative error of the prefill step's last row
 * @param greedy 32 greedy token ids after the prompt
 */
record HfReferenceRun(double maxRelPerPosition, double prefillRel, int[] greedy) {
  /** {@code [prompt length * vocab]} little-endian float32 logits of {@code dir/logits.f32}. */
  static float[] refLogits(Path dir) {
    try {
      ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(dir.resolve("logits.f32"))).order(ByteOrder.LITTLE_ENDIAN);
      float[] f = new float[b.remaining() / 4];
      b.asFloatBuffer().get(f);
      return f;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Runs {@code m} at precision {@code p} on device 0 with a memory budget of {@code budgetBytes}
   * (weights + a 256-token KV cache must fit).
   */
  static HfReferenceRun run(Precision p, LoadedModel m, int[] prompt, float[] ref, long budgetBytes) {
    int v = m.config().vocabSize();
    try (CudaDevice dev = CudaDevices.open(1, budgetBytes, p, 64).get(0);
        KvCache kv = KvCache.reserve(dev.memory(), m.config(), 16, p.elementBytes, 256);
        CudaForwardBackend be = dev.load(m, kv)) {
      KvPages pages = new KvPages(dev.memory());
      int[] table = Greedy.contiguous(kv.maxBlocks());
      pages.ensureBlocks(kv, Arrays.copyOf(table, 8));
      double worst = 0;
      float[][] out = new float[1][v];
      for (int i = 0; i < prompt.length; i++) { // logits of every prompt position: token by token
        be.forward(new ForwardBatch(List.of(new ForwardBatch.Entry(new int[] {prompt[i]}, i, table, true))), out);
        worst = Math.max(worst, TestModels.relativeError(out[0], Arrays.copyOfRange(ref, i * v, (i + 1) * v)));
      }
      // the whole prompt in one prefill step (rewrites the same slots), last row
      be.forward(new ForwardBatch(List.of(new ForwardBatch.Entry(prompt, 0, table, true))), out);
      double prefill = TestModels.relativeError(out[0], Arrays.copyOfRange(ref, (prompt.length - 1) * v, prompt.length * v));
      int[] greedy = Greedy.generate(be, pages, table, prompt, 32, null);
      pages.unmapAll(kv);
      pages.releaseAll();
      return new HfReferenceRun(worst, prefill, greedy);
    }
  }

  /** How many leading tokens of {@code got} equal {@code want}'s. */
  static int agreeing(int[] want, int[] got) {
    int n = 0;
    while (n < want.length && n < got.length && want[n] == got[n]) n++;
    return n;
  }
}
