package io.prism.runtime.forward;

import io.prism.runtime.engine.ForwardBatch;
import io.prism.runtime.memory.HostDeviceMemory;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.memory.PhysicalPage;
import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.model.ModelWeights;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.IntFunction;

/** JIT warm-up of the host forward pass (see {@link #run}). Stateless. */
public final class KernelWarmUp {
  private KernelWarmUp() {}

  /**
   * Brings the kernels to compiled speed before real work: the Vector API is only fast once C2 has
   * compiled the loops (interpreted or C1-compiled vector code allocates per operation and is
   * 100x slower, so a cold first forward pass of stories15M takes seconds). Runs decode and prefill
   * steps of a tiny random model on the calling thread until 200 steps in a row each took under
   * 200 us (compiled speed; a cold step takes milliseconds) or {@code budget} has passed; the
   * compiled code then serves every backend in this JVM. Optional; tools call it at start-up,
   * possibly on a background thread while the model loads.
   *
   * @return the number of forward steps run
   */
  public static int run(Duration budget) {
    ModelConfig cfg = new ModelConfig("warm-up", 64, 96, 1, 4, 2, 64, 64, 10000f, null, 1e-5f, true);
    SplittableRandom r = new SplittableRandom(1);
    IntFunction<float[]> rnd = n -> {
      float[] a = new float[n];
      for (int i = 0; i < n; i++) a[i] = (float) (r.nextDouble() - 0.5);
      return a;
    };
    int d = 64, h = 96, kvd = 32, v = 64;
    float[] emb = rnd.apply(v * d);
    ModelWeights w = new ModelWeights(cfg, emb, rnd.apply(d), rnd.apply(d * d), rnd.apply(kvd * d), rnd.apply(kvd * d),
        rnd.apply(d * d), rnd.apply(d), rnd.apply(h * d), rnd.apply(d * h), rnd.apply(h * d), rnd.apply(d), emb);
    HostDeviceMemory mem = new HostDeviceMemory(4096);
    int steps = 0;
    try (KvCache kv = KvCache.reserve(mem, cfg, 16, Float.BYTES, 8 * 64)) {
      for (int p = 0; p < kv.maxPages(); p++) {
        List<PhysicalPage> pages = new ArrayList<>();
        for (int i = 0; i < kv.physicalPagesPerPageId(); i++) pages.add(mem.create());
        kv.map(p, pages);
      }
      try (HostForwardBackend b = new HostForwardBackend(w, kv, 1)) {
        float[][] logits = new float[8][v];
        long end = System.nanoTime() + budget.toNanos();
        int fastInARow = 0;
        long now = System.nanoTime();
        while (now < end && fastInARow < 200) {
          int pos = steps % 48;
          List<ForwardBatch.Entry> entries = new ArrayList<>();
          for (int s = 0; s < 8; s++) {
            int[] table = {s * 4, s * 4 + 1, s * 4 + 2, s * 4 + 3};
            int[] tokens = s == 0 && pos % 4 == 0 ? new int[] {1, 2, 3, 4, 5} : new int[] {s + 1};
            entries.add(new ForwardBatch.Entry(tokens, pos, table, true));
            if (steps % 2 == 1) break; // alternate batch 8 and batch 1
          }
          b.forward(new ForwardBatch(entries), logits);
          steps++;
          long t = System.nanoTime();
          fastInARow = t - now < 200_000 ? fastInARow + 1 : 0;
          now = t;
        }
      }
      for (int p = 0; p < kv.maxPages(); p++) {
        for (PhysicalPage pp : kv.unmap(p)) mem.release(pp);
      }
    } finally {
      mem.close();
    }
    return steps;
  }
}
