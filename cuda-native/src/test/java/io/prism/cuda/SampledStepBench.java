package io.prism.cuda;

import io.prism.runtime.engine.ForwardBatch;
import io.prism.runtime.sampling.SamplingParams;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.memory.PhysicalPage;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.model.RandomModels;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Decode ms/step with device sampling (temperature 0.8, top-p 0.95) against greedy, direct path
 * (graphs off) and greedy graph replay, and with 20 top log probabilities plus penalties (min-p 0.05,
 * presence, frequency and repetition penalties over each row's 512 context tokens, one bias) on
 * the device, at each batch size, for a random-weight model (bf16).
 * Usage: {@code SampledStepBench [model=random:llama-3.1-8b] [batches=1,64] [context=512] [steps=32]}.
 */
public final class SampledStepBench {
  private SampledStepBench() {}

  /** Entry point; see the class comment for the arguments. */
  public static void main(String[] args) {
    String name = args.length > 0 ? args[0] : "random:llama-3.1-8b";
    int[] batches = Arrays.stream((args.length > 1 ? args[1] : "1,64").split(",")).mapToInt(Integer::parseInt).toArray();
    int ctxTokens = args.length > 2 ? Integer.parseInt(args[2]) : 512;
    int steps = args.length > 3 ? Integer.parseInt(args[3]) : 32;
    LoadedModel lm = new LoadedModel(name, name, RandomModels.config(name), null, null);
    ModelConfig c = lm.config();
    int maxB = Arrays.stream(batches).max().orElse(1);
    try (CudaDevice dev = CudaDevices.open(1, 1L << 30, Precision.BF16, CudaForwardBackend.DEFAULT_CHUNK_TOKENS).get(0)) {
      int tokens = ctxTokens + steps + 1;
      KvCache kv = KvCache.reserve(dev.memory(), c, 16, 2, maxB * tokens);
      int nb = (tokens + 15) / 16;
      int pageIds = (maxB * nb + kv.blocksPerPage() - 1) / kv.blocksPerPage();
      for (int p = 0; p < pageIds; p++) {
        List<PhysicalPage> ps = new ArrayList<>();
        for (int i = 0; i < kv.physicalPagesPerPageId(); i++) ps.add(dev.memory().create());
        kv.map(p, ps);
      }
      try (CudaForwardBackend be = dev.load(lm, kv, 7)) {
        Random rnd = new Random(1);
        SamplingParams sp = new SamplingParams(0.8f, 0.95f, 0, 1L, steps, List.of(), true);
        for (int b : batches) {
          int[][] tables = new int[b][nb];
          for (int s = 0; s < b; s++) for (int i = 0; i < nb; i++) tables[s][i] = s * nb + i;
          List<ForwardBatch.Entry> pre = new ArrayList<>();
          for (int s = 0; s < b; s++) pre.add(new ForwardBatch.Entry(rnd.ints(ctxTokens, 0, c.vocabSize()).toArray(), 0, tables[s], true));
          int[] next = new int[b];
          be.forwardGreedy(new ForwardBatch(pre), next);
          SamplingParams[] params = new SamplingParams[b];
          Arrays.fill(params, sp);
          float[] coins = new float[b];
          SamplingParams heavy = sp.withLogprobs(20).withProcessing(0.05f, 0.5f, 0.5f, 1.1f, java.util.Map.of(5, 2f));
          SamplingParams[] heavyParams = new SamplingParams[b];
          Arrays.fill(heavyParams, heavy);
          io.prism.runtime.sampling.LogitAdjustment[] adjustments = new io.prism.runtime.sampling.LogitAdjustment[b];
          for (int s = 0; s < b; s++) {
            io.prism.runtime.sampling.TokenCounts counts = new io.prism.runtime.sampling.TokenCounts(pre.get(s).tokens(), true);
            for (int k = 0; k < 64; k++) counts.addOutput(rnd.nextInt(c.vocabSize()));
            adjustments[s] = io.prism.runtime.sampling.LogitAdjustment.of(heavy, counts);
          }
          io.prism.runtime.sampling.TokenLogprobs[] lps = new io.prism.runtime.sampling.TokenLogprobs[b];
          double[] ms = new double[4];
          String[] modes = {"greedy graph", "greedy direct", "sampled T=0.8 top-p 0.95", "sampled + 20 logprobs + penalties"};
          for (int mode = 0; mode < 4; mode++) {
            be.graphs(mode == 0);
            double[] t = new double[steps];
            for (int k = 0; k < steps; k++) {
              List<ForwardBatch.Entry> dec = new ArrayList<>();
              for (int s = 0; s < b; s++) dec.add(new ForwardBatch.Entry(new int[] {next[s]}, ctxTokens + k, tables[s], true));
              for (int s = 0; s < b; s++) coins[s] = rnd.nextFloat();
              long t0 = System.nanoTime();
              if (mode == 2) be.forwardSampled(new ForwardBatch(dec), params, null, coins, next, lps);
              else if (mode == 3) be.forwardSampled(new ForwardBatch(dec), heavyParams, adjustments, coins, next, lps);
              else be.forwardGreedy(new ForwardBatch(dec), next);
              t[k] = (System.nanoTime() - t0) / 1e6;
            }
            Arrays.sort(t);
            ms[mode] = t[steps / 2];
            System.out.printf("%s batch %d: decode %s median %.2f ms/step%n", c.name(), b, modes[mode], ms[mode]);
          }
          System.out.printf("%s batch %d: sampling costs %+.2f ms/step over greedy direct; logprobs and penalties %+.2f more%n", c.name(), b,
              ms[2] - ms[1], ms[3] - ms[2]);
        }
        be.graphs(true);
      }
    }
  }
}
