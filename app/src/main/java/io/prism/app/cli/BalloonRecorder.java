package io.prism.app.cli;

import io.prism.actors.frontend.GenerationEvent;
import io.prism.actors.gpu.GpuStatus;
import io.prism.runtime.engine.FinishReason;
import java.io.IOException;
import java.io.PrintStream;
import java.io.Writer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * What one run of {@code prism bench balloon} saw: per request its send time, first token, end and
 * outcome (recorded by a collector actor that receives every {@link GenerationEvent}), and samples
 * of the GPU's pages per model over time. Computes per-model SLO attainment and goodput, prints
 * the table rows and writes the CSV rows. Thread-safe (the actor and the sampler write, the command
 * reads after the run).
 */
final class BalloonRecorder {
  /** One request's life; times in {@link System#nanoTime()}. */
  static final class Req {
    final String model;
    final long sentNanos;
    volatile long firstNanos = -1;
    volatile long endNanos = -1;
    volatile int tokens;
    volatile String outcome = "";

    Req(String model, long sentNanos) {
      this.model = model;
      this.sentNanos = sentNanos;
    }
  }

  /** One sample of a model's memory. */
  record Sample(double seconds, String model, int pagesHeld, int pagesInUse, boolean resident, int capacityPages) {}

  final String mode;
  final long startNanos;
  final Map<String, Req> requests = new ConcurrentHashMap<>();
  final List<Sample> samples = new CopyOnWriteArrayList<>();

  BalloonRecorder(String mode, long startNanos) {
    this.mode = mode;
    this.startNanos = startNanos;
  }

  /** The actor that receives every request's events. */
  Behavior<GenerationEvent> collector() {
    return Behaviors.receive((ctx, e) -> {
      Req r = requests.get(e.requestId());
      long now = System.nanoTime();
      if (r != null) {
        if (e instanceof GenerationEvent.Chunk && r.firstNanos < 0) r.firstNanos = now;
        if (e instanceof GenerationEvent.Completed c) {
          r.tokens = c.completionTokens();
          r.outcome = c.reason() == FinishReason.STOP || c.reason() == FinishReason.LENGTH ? "done" : c.reason().name().toLowerCase();
          r.endNanos = now;
        }
        if (e instanceof GenerationEvent.Rejected rej) {
          r.outcome = "rejected:" + rej.kind().name().toLowerCase();
          r.endNanos = now;
        }
      }
      return Behaviors.same();
    });
  }

  Req sent(String requestId, String model) {
    Req r = new Req(model, System.nanoTime());
    requests.put(requestId, r);
    return r;
  }

  boolean allEnded() {
    return requests.values().stream().allMatch(r -> r.endNanos >= 0);
  }

  void sample(GpuStatus s) {
    double t = (System.nanoTime() - startNanos) / 1e9;
    for (GpuStatus.ModelStatus m : s.models()) samples.add(new Sample(t, m.modelId(), m.pagesHeld(), m.pagesInUse(), m.resident(), s.capacityPages()));
  }

  /** Per-model results of this run. */
  record Result(String mode, String model, int requests, int done, int rejected, double ttftP50, double ttftP95, double tpotMean,
      double tpotP95, double ttftAttainment, double tpotAttainment, double sloAttainment, double goodput, int peakPages) {}

  /** Results per model against {@code ttftSlo}/{@code tpotSlo}; goodput over {@code workload}. */
  List<Result> results(List<String> models, Duration ttftSlo, Duration tpotSlo, Duration workload) {
    List<Result> out = new ArrayList<>();
    for (String model : models) {
      List<Req> rs = requests.values().stream().filter(r -> r.model.equals(model)).toList();
      double[] ttft = rs.stream().filter(r -> r.firstNanos >= 0).mapToDouble(r -> (r.firstNanos - r.sentNanos) / 1e9).sorted().toArray();
      double[] tpot = rs.stream().filter(r -> r.firstNanos >= 0 && r.tokens > 1 && r.outcome.equals("done"))
          .mapToDouble(r -> (r.endNanos - r.firstNanos) / 1e9 / (r.tokens - 1)).sorted().toArray();
      int ttftOk = 0, tpotOk = 0, bothOk = 0, done = 0, rejected = 0;
      for (Req r : rs) {
        if (r.outcome.equals("done")) done++;
        if (r.outcome.startsWith("rejected")) rejected++;
        boolean t1 = r.firstNanos >= 0 && r.outcome.equals("done") && r.firstNanos - r.sentNanos <= ttftSlo.toNanos();
        boolean t2 = r.outcome.equals("done") && (r.tokens <= 1 || (r.endNanos - r.firstNanos) / Math.max(1, r.tokens - 1) <= tpotSlo.toNanos());
        if (t1) ttftOk++;
        if (t2) tpotOk++;
        if (t1 && t2) bothOk++;
      }
      int peak = samples.stream().filter(s -> s.model().equals(model)).mapToInt(Sample::pagesHeld).max().orElse(0);
      int n = Math.max(1, rs.size());
      out.add(new Result(mode, model, rs.size(), done, rejected, pct(ttft, 0.5), pct(ttft, 0.95), Arrays.stream(tpot).average().orElse(Double.NaN),
          pct(tpot, 0.95), (double) ttftOk / n, (double) tpotOk / n, (double) bothOk / n, bothOk / (workload.toNanos() / 1e9), peak));
    }
    return out;
  }

  private static double pct(double[] sorted, double q) {
    if (sorted.length == 0) return Double.NaN;
    return sorted[Math.min(sorted.length - 1, (int) Math.ceil(q * sorted.length) - 1)];
  }

  static void printHeader(PrintStream out) {
    out.printf(Locale.ROOT, "%-8s %-5s %5s %5s %5s %9s %9s %9s %9s %8s %8s %8s %9s %6s%n", "mode", "model", "reqs", "done", "rej", "TTFT p50",
        "TTFT p95", "TPOT avg", "TPOT p95", "TTFT ok", "TPOT ok", "SLO ok", "goodput", "peak");
  }

  static void print(PrintStream out, Result r) {
    out.printf(Locale.ROOT, "%-8s %-5s %5d %5d %5d %8.0fms %8.0fms %8.1fms %8.1fms %7.1f%% %7.1f%% %7.1f%% %7.2f/s %6d%n", r.mode(), r.model(),
        r.requests(), r.done(), r.rejected(), r.ttftP50() * 1e3, r.ttftP95() * 1e3, r.tpotMean() * 1e3, r.tpotP95() * 1e3,
        100 * r.ttftAttainment(), 100 * r.tpotAttainment(), 100 * r.sloAttainment(), r.goodput(), r.peakPages());
  }

  /** CSV rows {@code mode,seconds,model,pages_held,pages_in_use,resident,capacity_pages}. */
  void writeCsv(Writer w) throws IOException {
    for (Sample s : samples) {
      w.write(String.format(Locale.ROOT, "%s,%.3f,%s,%d,%d,%d,%d%n", mode, s.seconds(), s.model(), s.pagesHeld(), s.pagesInUse(), s.resident() ? 1 : 0,
          s.capacityPages()));
    }
  }
}
