package io.prism.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.engine.ForwardBatch;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.memory.PhysicalPage;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.model.RandomModels;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Decode ms/step of {@code random:llama-3.1-8b} with its weights quantized on the device in the
 * Q4_K_M mix ({@code -Dprism.cuda.random-quant=q4_k_m}) against its floor, the bytes a step must
 * read (quantized matrices plus the KV cache of the context, embedding row and norms negligible)
 * over the HBM bandwidth ({@code prism.bench.hbm-tbps}, default 4.8 TB/s: H200), and the same model
 * in bf16. Batch 1 (and 8: one weight pass for up to 8 rows), context 512, graphs on; median of 64
 * steps. Prints the numbers; asserts only that they are finite and the quantized step beats bf16.
 */
@Tag("gpu")
class QuantDecodeGpuBench {
  @Test
  void q4KMDecodeAgainstBandwidthFloor() {
    double tbps = Double.parseDouble(System.getProperty("prism.bench.hbm-tbps", "4.8"));
    String name = "random:llama-3.1-8b";
    ModelConfig c = RandomModels.config(name);
    LoadedModel lm = new LoadedModel(name, name, c, null, null);
    double[] ms = new double[2];
    String[] modes = {"q4_k_m", "none"};
    for (int mode = 0; mode < 2; mode++) {
      String old = System.getProperty("prism.cuda.random-quant");
      System.setProperty("prism.cuda.random-quant", modes[mode]);
      try (CudaDevice dev = CudaDevices.open(1, 1L << 30, Precision.BF16, CudaForwardBackend.DEFAULT_CHUNK_TOKENS).get(0)) {
        int ctxTokens = 512, steps = 64, maxB = 8, tokens = ctxTokens + steps + 1, nb = (tokens + 15) / 16;
        KvCache kv = KvCache.reserve(dev.memory(), c, 16, 2, maxB * tokens);
        int pageIds = (maxB * nb + kv.blocksPerPage() - 1) / kv.blocksPerPage();
        for (int p = 0; p < pageIds; p++) {
          List<PhysicalPage> ps = new ArrayList<>();
          for (int i = 0; i < kv.physicalPagesPerPageId(); i++) ps.add(dev.memory().create());
          kv.map(p, ps);
        }
        try (CudaForwardBackend be = dev.load(lm, kv, 7)) {
          long weightBytes = be.weightBytes();
          // a step reads every layer matrix and the classifier, not the embedding table (one row)
          long readBytes = mode == 0 ? be.quantizedWeightBytes() : weightBytes - (long) c.vocabSize() * c.dim() * 2;
          long kvBytes = c.kvBytesPerToken(2) * ctxTokens;
          for (int b : new int[] {1, 8}) {
            Random rnd = new Random(1);
            int[][] tables = new int[b][nb];
            for (int s = 0; s < b; s++) for (int i = 0; i < nb; i++) tables[s][i] = s * nb + i;
            List<ForwardBatch.Entry> pre = new ArrayList<>();
            for (int s = 0; s < b; s++) pre.add(new ForwardBatch.Entry(rnd.ints(ctxTokens, 0, c.vocabSize()).toArray(), 0, tables[s], true));
            int[] next = new int[b];
            be.forwardGreedy(new ForwardBatch(pre), next);
            double[] t = new double[steps];
            for (int k = 0; k < steps; k++) {
              List<ForwardBatch.Entry> dec = new ArrayList<>();
              for (int s = 0; s < b; s++) dec.add(new ForwardBatch.Entry(new int[] {next[s]}, ctxTokens + k, tables[s], true));
              long t0 = System.nanoTime();
              be.forwardGreedy(new ForwardBatch(dec), next);
              t[k] = (System.nanoTime() - t0) / 1e6;
            }
            Arrays.sort(t);
            double med = t[steps / 2];
            double floor = (readBytes + b * kvBytes) / (tbps * 1e12) * 1e3;
            System.out.printf("%s %s batch %d: decode median %.2f ms/step; floor %.2f ms (%.2f GB weights read + %.2f GB KV at %.1f TB/s): %.0f%% of the floor's speed;"
                + " weights in device memory %.2f GB%n", name, modes[mode], b, med, floor, readBytes / 1e9, b * kvBytes / 1e9, tbps, 100 * floor / med, weightBytes / 1e9);
            if (b == 1) ms[mode] = med;
            assertTrue(Double.isFinite(med) && med > 0);
          }
        }
      } finally {
        if (old == null) System.clearProperty("prism.cuda.random-quant");
        else System.setProperty("prism.cuda.random-quant", old);
      }
    }
    System.out.printf("%s batch 1: Q4_K_M %.2f ms/step vs bf16 %.2f ms/step (%.2fx)%n", name, ms[0], ms[1], ms[1] / ms[0]);
    assertTrue(ms[0] < ms[1], "a Q4_K_M step reads a third of the bf16 bytes; it should be faster");
  }
}
