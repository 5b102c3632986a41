package io.prism.http.cli;

import io.prism.runtime.engine.Admission;
import io.prism.runtime.engine.GenerationRequest;
import io.prism.runtime.engine.SamplingParams;
import io.prism.runtime.engine.SequenceEvent;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.model.ModelLoader;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code prism bench cpu}: decode throughput of the host forward pass through the real engine
 * ({@code ModelEngine}, paged KV cache, greedy sampling), at batch 1 and batch 8, for random
 * weights in the stories15M and stories110M shapes.
 *
 * <p>Method: per model and batch size, a warm-up round, then {@code --rounds} measured rounds. A
 * round submits {@code batch} requests of {@code --prompt-tokens} random prompt tokens each
 * (BOS first), {@code ignoreEos}, and steps the engine; the clock starts once every sequence has
 * its first token (prefill done) and stops when all have {@code --steps} tokens, so only decode
 * steps are timed. Reported: the best and the median round in generated tokens per second (all
 * sequences together).
 *
 * <p>Goals (issue 2): batch 1 at least llama2.c's {@code run.c} compiled {@code -Ofast
 * -march=native}, one thread, on this machine: 437 tok/s (stories15M), 38 tok/s (stories110M);
 * batch 8 at least 4x batch 1. The ratio columns compare the best round with the goal.
 */
@Command(name = "cpu", mixinStandardHelpOptions = true, description = "Decode tokens/s of the host forward pass at batch 1 and 8.")
public final class CpuBenchCommand implements Callable<Integer> {
  /** llama2.c run.c -Ofast -march=native, 1 thread, this machine (issue 2). */
  static final double GOAL_STORIES15M = 437;
  static final double GOAL_STORIES110M = 38;
  static final double GOAL_BATCH_SPEEDUP = 4;

  @Option(names = "--models", split = ",", defaultValue = "random:stories15M,random:stories110M",
      description = "model specs (default: ${DEFAULT-VALUE})")
  List<String> models;

  @Option(names = "--batches", split = ",", defaultValue = "1,8", description = "batch sizes (default: ${DEFAULT-VALUE})")
  List<Integer> batches;

  @Option(names = "--threads", description = "forward-pass threads (default: available processors)")
  Integer threads;

  @Option(names = "--steps", defaultValue = "128", description = "decode steps per round (capped by the context) (default: ${DEFAULT-VALUE})")
  int steps;

  @Option(names = "--prompt-tokens", defaultValue = "8", description = "prompt length (default: ${DEFAULT-VALUE})")
  int promptTokens;

  @Option(names = "--rounds", defaultValue = "3", description = "measured rounds per configuration (default: ${DEFAULT-VALUE})")
  int rounds;

  @Override
  public Integer call() {
    PrintStream out = System.out;
    int nThreads = threads != null ? threads : Runtime.getRuntime().availableProcessors();
    if (nThreads < 1 || steps < 2 || promptTokens < 1 || rounds < 1) {
      throw new IllegalArgumentException("need --threads >= 1, --steps >= 2, --prompt-tokens >= 1, --rounds >= 1");
    }
    out.printf("prism bench cpu: %d threads, %d decode steps after a %d-token prompt, %d rounds (+1 warm-up), %s%n",
        nThreads, steps, promptTokens, rounds, Runtime.version());
    out.printf("%-22s %5s %12s %12s %12s %8s%n", "model", "batch", "best tok/s", "median", "goal tok/s", "ratio");
    for (String spec : models) {
      LoadedModel m = ModelLoader.load(spec, null);
      double batch1 = Double.NaN;
      for (int batch : batches) {
        int decode = Math.min(steps, m.config().maxSeqLen() - promptTokens);
        double[] rates = new double[rounds];
        try (HostEngineRig rig = new HostEngineRig(m, batch, promptTokens + decode, nThreads)) {
          round(rig, m, batch, Math.min(decode, 16), -1); // warm-up: JIT, pages, worker threads
          for (int r = 0; r < rounds; r++) rates[r] = round(rig, m, batch, decode, r);
        }
        double[] sorted = rates.clone();
        Arrays.sort(sorted);
        double best = sorted[sorted.length - 1], median = sorted[sorted.length / 2];
        double goal;
        String note;
        if (batch == 1) {
          batch1 = best;
          goal = goalFor(spec);
          note = Double.isNaN(goal) ? "" : String.format("%7.2fx", best / goal);
        } else {
          goal = Double.isNaN(batch1) ? Double.NaN : GOAL_BATCH_SPEEDUP * batch1;
          note = Double.isNaN(goal) ? "" : String.format("%7.2fx  (%.2fx batch 1; goal %.0fx)", best / goal, best / batch1, GOAL_BATCH_SPEEDUP);
        }
        out.printf("%-22s %5d %12.1f %12.1f %12s %s%n", spec, batch, best, median, Double.isNaN(goal) ? "-" : String.format("%.1f", goal), note);
        out.flush();
      }
    }
    return 0;
  }

  private static double goalFor(String spec) {
    String s = spec.toLowerCase();
    if (s.endsWith("stories15m")) return GOAL_STORIES15M;
    if (s.endsWith("stories110m")) return GOAL_STORIES110M;
    return Double.NaN;
  }

  /** One round; returns decode tokens per second over all sequences. */
  private double round(HostEngineRig rig, LoadedModel m, int batch, int decode, int round) {
    SplittableRandom rnd = new SplittableRandom(1234 + round);
    SamplingParams params = new SamplingParams(0f, 1f, 0, 0L, decode, List.of(), true);
    List<String> ids = new ArrayList<>();
    for (int b = 0; b < batch; b++) {
      int[] prompt = new int[promptTokens];
      prompt[0] = m.tokenizer().bosId();
      for (int i = 1; i < prompt.length; i++) prompt[i] = 3 + rnd.nextInt(m.config().vocabSize() - 3);
      String id = "r" + round + "-" + b;
      Admission a = rig.engine.submit(new GenerationRequest(id, prompt, params, System.nanoTime()));
      if (a instanceof Admission.Rejected r) throw new IllegalStateException("bench request rejected: " + r.reason());
      ids.add(id);
    }
    int started = 0, finished = 0;
    long t0 = 0;
    long timedTokens = 0;
    boolean[] seen = new boolean[batch];
    while (finished < batch) {
      boolean timing = t0 != 0; // count only tokens of steps that start after every prefill is done
      for (SequenceEvent e : rig.engine.step()) {
        if (e instanceof SequenceEvent.Token) {
          if (timing) timedTokens++;
          int b = ids.indexOf(e.requestId());
          if (!seen[b]) {
            seen[b] = true;
            started++;
          }
        } else if (e instanceof SequenceEvent.Finished) {
          finished++;
        }
      }
      if (!timing && started == batch) t0 = System.nanoTime();
    }
    return timedTokens / ((System.nanoTime() - t0) / 1e9);
  }
}
