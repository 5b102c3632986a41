package io.prism.cuda;

import io.prism.runtime.engine.ForwardBatch;
import io.prism.runtime.forward.HostForwardBackend;
import io.prism.runtime.memory.HostDeviceMemory;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.memory.PhysicalPage;
import io.prism.runtime.model.Architecture;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.model.ModelWeights;
import io.prism.runtime.model.QuantizedMatrices;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Shared runs of the architecture and quantization GPU tests: one sequence's logits at every
 * position (token by token), the logits of the whole prompt prefilled in one step, and greedy
 * tokens, on the host backend and on a CUDA device.
 */
final class ArchRuns {
  /** Logits at every prompt position, the prefill logits of the whole prompt, and greedy tokens after it. */
  record Run(float[][] perPosition, float[] prefill, int[] greedy) {}

  private ArchRuns() {}

  /** A random model of architecture {@code a} whose matrices K-quantize (dims multiples of 256); qwen3 with qDim 2 x dim. */
  static ModelWeights randomModel(Architecture a, long seed) {
    int headDim = a == Architecture.QWEN3 ? 128 : 64;
    ModelConfig c = new ModelConfig("rand-" + a.label(), a, 1024, 2816, 4, 16, 4, headDim, 4096, 256, 1e6f, null, 1e-6f, a == Architecture.QWEN2);
    SplittableRandom r = new SplittableRandom(seed);
    int l = c.numLayers(), d = c.dim(), qd = c.qDim(), kv = c.kvDim(), h = c.hiddenDim(), v = c.vocabSize(), hd = c.headDim();
    float[] emb = uniform(r, v * d, 1f);
    return new ModelWeights(c, emb, around1(r, l * d), uniform(r, l * qd * d, (float) Math.sqrt(3.0 / d)), uniform(r, l * kv * d, (float) Math.sqrt(3.0 / d)),
        uniform(r, l * kv * d, (float) Math.sqrt(3.0 / d)), uniform(r, l * d * qd, (float) Math.sqrt(3.0 / qd)), around1(r, l * d),
        uniform(r, l * h * d, (float) Math.sqrt(3.0 / d)), uniform(r, l * d * h, (float) Math.sqrt(3.0 / h)), uniform(r, l * h * d, (float) Math.sqrt(3.0 / d)),
        around1(r, d), c.sharedClassifier() ? emb : uniform(r, v * d, (float) Math.sqrt(3.0 / d)),
        a.qkvBias() ? uniform(r, l * qd, 0.3f) : null, a.qkvBias() ? uniform(r, l * kv, 0.3f) : null, a.qkvBias() ? uniform(r, l * kv, 0.3f) : null,
        a.qkNorm() ? around1(r, l * hd) : null, a.qkNorm() ? around1(r, l * hd) : null);
  }

  static float[] uniform(SplittableRandom r, int n, float a) {
    float[] f = new float[n];
    for (int i = 0; i < n; i++) f[i] = (float) ((2 * r.nextDouble() - 1) * a);
    return f;
  }

  static float[] around1(SplittableRandom r, int n) {
    float[] f = new float[n];
    for (int i = 0; i < n; i++) f[i] = 1f + (float) ((2 * r.nextDouble() - 1) * 0.2);
    return f;
  }

  /** The host backend over a host KV cache (64 KiB pages, blocks of 16). */
  static Run host(ModelWeights w, int[] prompt, int steps) {
    ModelConfig c = w.config;
    int max = prompt.length + steps + 1;
    try (Seq s = new Seq(w, max); Seq p = new Seq(w, max)) {
      float[][] per = new float[prompt.length][];
      for (int i = 0; i < prompt.length; i++) per[i] = s.step(new int[] {prompt[i]}, i);
      float[] pre = p.step(prompt, 0);
      int[] g = new int[steps];
      int next = TestModels.argmax(pre), pos = prompt.length;
      for (int k = 0; k < steps; k++) {
        g[k] = next;
        next = TestModels.argmax(p.step(new int[] {next}, pos++));
      }
      return new Run(per, pre, g);
    }
  }

  private static final class Seq implements AutoCloseable {
    final HostForwardBackend be;
    final int[] table;
    final int vocab;

    Seq(ModelWeights w, int maxTokens) {
      HostDeviceMemory mem = new HostDeviceMemory(1 << 20);
      KvCache kv = KvCache.reserve(mem, w.config, 16, 4, maxTokens);
      for (int p = 0; p < kv.maxPages(); p++) {
        List<PhysicalPage> pages = new ArrayList<>();
        for (int i = 0; i < kv.physicalPagesPerPageId(); i++) pages.add(mem.create());
        kv.map(p, pages);
      }
      be = new HostForwardBackend(w, kv, Math.max(1, Runtime.getRuntime().availableProcessors() / 2));
      table = Greedy.contiguous(kv.maxBlocks());
      vocab = w.config.vocabSize();
    }

    float[] step(int[] tokens, int pos) {
      float[][] out = new float[1][vocab];
      be.forward(new ForwardBatch(List.of(new ForwardBatch.Entry(tokens, pos, table, true))), out);
      return out[0];
    }

    @Override
    public void close() {
      be.close();
    }
  }

  /** The CUDA backend in precision {@code p}; {@code q} not null keeps those matrices quantized. */
  static Run cuda(Precision p, ModelWeights w, QuantizedMatrices q, int[] prompt, int steps) {
    ModelConfig c = w.config;
    LoadedModel m = new LoadedModel(c.name(), c.name(), c, w, null);
    int v = c.vocabSize();
    try (CudaDevice dev = CudaDevices.open(1, 8L << 30, p, 64).get(0);
        KvCache kv = KvCache.reserve(dev.memory(), c, 16, p.elementBytes, prompt.length + steps + 16);
        CudaForwardBackend be = q == null ? dev.load(m, kv) : dev.loadQuantized(m, q, kv)) {
      KvPages pages = new KvPages(dev.memory());
      int[] table = Greedy.contiguous(kv.maxBlocks());
      pages.ensureBlocks(kv, table);
      float[][] per = new float[prompt.length][];
      float[][] out = new float[1][v];
      for (int i = 0; i < prompt.length; i++) {
        be.forward(new ForwardBatch(List.of(new ForwardBatch.Entry(new int[] {prompt[i]}, i, table, true))), out);
        per[i] = out[0].clone();
      }
      be.forward(new ForwardBatch(List.of(new ForwardBatch.Entry(prompt, 0, table, true))), out);
      float[] pre = out[0].clone();
      int[] g = Greedy.generate(be, pages, table, prompt, steps, null);
      pages.unmapAll(kv);
      pages.releaseAll();
      return new Run(per, pre, g);
    }
  }

  /** Largest relative error (||a - b|| / ||b||) over the positions. */
  static double worstRel(float[][] a, float[][] b) {
    double worst = 0;
    for (int i = 0; i < b.length; i++) worst = Math.max(worst, TestModels.relativeError(a[i], b[i]));
    return worst;
  }

  /** Tokens equal before the first difference. */
  static int agree(int[] a, int[] b) {
    int n = 0;
    while (n < Math.min(a.length, b.length) && a[n] == b[n]) n++;
    return n;
  }

  static int[] prompt(int n, int vocab, long seed) {
    return new SplittableRandom(seed).ints(n, 1, vocab).toArray();
  }

  static String brief(int[] t) {
    return Arrays.toString(Arrays.copyOf(t, Math.min(8, t.length))) + (t.length > 8 ? "..." : "");
  }
}
