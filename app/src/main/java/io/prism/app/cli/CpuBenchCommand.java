package io.prism.app.cli;

import io.prism.runtime.engine.Admission;
import io.prism.runtime.engine.GenerationRequest;
import io.prism.runtime.sampling.SamplingParams;
import io.prism.runtime.engine.SequenceEvent;
import io.prism.runtime.forward.KernelWarmUp;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.model.ModelLoader;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code prism bench cpu}: decode throughput of the host forward pass through the real engine
 * ({@code ModelEngine}, paged KV cache, greedy sampling), at batch 1 and batch 8, for random
 * weights in the stories15M and stories110M shapes.
 *
 * <p>Method: the kernels are JIT-compiled first ({@link KernelWarmUp}); per model, one engine per
 * batch size, each warmed up with short rounds for half a second; then {@code
 * --rounds} measured rounds alternating between the batch sizes, so that all of them see the same
 * background load (the machine is shared). A round submits {@code batch} requests of {@code --prompt-tokens} random prompt tokens each
 * (BOS first), {@code ignoreEos}, and steps the engine; the clock starts once every sequence has
 * its first token (prefill done) and stops when all have {@code --steps} tokens, so only decode
 * steps are timed. Reported, in generated tokens per second (all sequences together): the best and
 * the median round, and "quiet": batch size divided by the 20th-percentile step time over all
 * rounds, an estimate of the speed without the background load of a shared machine (a step slowed
 * by another process is long; one that ran undisturbed is short).
 *
 * <p>Goals (issue 2): batch 1 at least llama2.c's {@code run.c} compiled {@code -Ofast
 * -march=native}, one thread, on this machine: 437 tok/s (stories15M), 38 tok/s (stories110M);
 * batch 8 at least 4x batch 1. The ratio columns compare the best round with the goal.
 */
@Command(name = "cpu", mixinStandardHelpOptions = true, description = "Decode tokens/s of the host forward pass at batch 1 and 8.")
public final class CpuBenchCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

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

  @Option(names = "--rounds", defaultValue = "5", description = "measured rounds per configuration (default: ${DEFAULT-VALUE})")
  int rounds;

  @Override
  public Integer call() {
    PrintWriter out = spec.commandLine().getOut();
    int nThreads = threads != null ? threads : Runtime.getRuntime().availableProcessors();
    if (nThreads < 1 || steps < 2 || promptTokens < 1 || rounds < 1) {
      throw new IllegalArgumentException("need --threads >= 1, --steps >= 2, --prompt-tokens >= 1, --rounds >= 1");
    }
    out.printf("prism bench cpu: %d threads, %d decode steps after a %d-token prompt, %d rounds (after warm-up), %s%n",
        nThreads, steps, promptTokens, rounds, Runtime.version());
    out.flush();
    KernelWarmUp.run(Duration.ofSeconds(5));
    out.printf("%-20s %5s %10s %10s %10s %10s %7s %7s%n", "model", "batch", "best", "median", "quiet", "goal", "best/", "quiet/");
    out.printf("%-20s %5s %10s %10s %10s %10s %7s %7s%n", "", "", "tok/s", "tok/s", "tok/s", "tok/s", "goal", "goal");
    for (String spec : models) {
      LoadedModel m = ModelLoader.load(spec, null);
      int decode = Math.min(steps, m.config().maxSeqLen() - promptTokens);
      List<HostEngineRig> rigs = new ArrayList<>();
      try {
        for (int batch : batches) {
          HostEngineRig rig = new HostEngineRig(m, batch, promptTokens + decode, nThreads);
          rigs.add(rig);
          long warmEnd = System.nanoTime() + 500_000_000L; // warm-up: JIT at this shape, pages, worker threads
          do {
            round(rig, m, batch, Math.min(decode, 32), -1, new ArrayList<>());
          } while (System.nanoTime() < warmEnd);
        }
        // Rounds alternate between batch sizes so that every size sees the same background load.
        double[][] rates = new double[batches.size()][rounds];
        List<List<Long>> stepNanos = new ArrayList<>();
        for (int i = 0; i < batches.size(); i++) stepNanos.add(new ArrayList<>());
        for (int r = 0; r < rounds; r++) {
          for (int i = 0; i < batches.size(); i++) rates[i][r] = round(rigs.get(i), m, batches.get(i), decode, r, stepNanos.get(i));
        }
        double batch1 = Double.NaN, quiet1 = Double.NaN;
        for (int i = 0; i < batches.size(); i++) {
          int batch = batches.get(i);
          double[] sorted = rates[i].clone();
          Arrays.sort(sorted);
          double best = sorted[sorted.length - 1], median = sorted[sorted.length / 2];
          List<Long> ns = stepNanos.get(i);
          ns.sort(null);
          double quiet = batch / (ns.get(ns.size() / 5) / 1e9);
          double goal;
          String note;
          if (batch == 1) {
            batch1 = best;
            quiet1 = quiet;
            goal = goalFor(spec);
            note = Double.isNaN(goal) ? "" : String.format("%7.2fx %7.2fx", best / goal, quiet / goal);
          } else {
            goal = Double.isNaN(batch1) ? Double.NaN : GOAL_BATCH_SPEEDUP * batch1;
            note = Double.isNaN(goal) ? "" : String.format("%7.2fx %7.2fx  (%.2fx / %.2fx batch 1; goal %.0fx)",
                best / goal, quiet / (GOAL_BATCH_SPEEDUP * quiet1), best / batch1, quiet / quiet1, GOAL_BATCH_SPEEDUP);
          }
          out.flush();
          out.printf("%-20s %5d %10.1f %10.1f %10.1f %10s %s%n", spec, batch, best, median, quiet,
              Double.isNaN(goal) ? "-" : String.format("%.1f", goal), note);
        }
        out.flush();
      } finally {
        for (HostEngineRig rig : rigs) rig.close();
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

  /** One round; returns decode tokens per second over all sequences and adds each timed step's duration to {@code stepNanos}. */
  private double round(HostEngineRig rig, LoadedModel m, int batch, int decode, int round, List<Long> stepNanos) {
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
      long s0 = System.nanoTime();
      List<SequenceEvent> events = rig.engine.step();
      if (timing) stepNanos.add(System.nanoTime() - s0);
      for (SequenceEvent e : events) {
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
