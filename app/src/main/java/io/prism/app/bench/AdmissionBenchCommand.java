package io.prism.app.bench;

import io.prism.actors.ModelSpec;
import io.prism.actors.model.ModelStore;
import io.prism.runtime.forward.KernelWarmUp;
import io.prism.runtime.model.LoadedModel;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code prism bench admission}: does the GPU's local admission keep its promise under overload?
 * One host device (one GPU actor) serving {@code --models} instances of one model, each with TTFT
 * SLO {@code --ttft-slo}, driven over loopback HTTP through the whole in-process server (the path a
 * client takes: the 503 {@code slo_unattainable} and 429 answers are the ones users get), with a
 * streaming client per request ({@link SseClient}).
 *
 * <p>Method: capacity is measured first, on a server with deadline admission off: a burst of
 * {@code --capacity-requests} requests at once (after a warm-up burst), capacity = requests / (first
 * sent to last ended). Then two runs, each on a fresh server, with {@code
 * prism.gpu.deadline-admission} on and off: after a warm-up burst, {@code --load} x capacity
 * requests per second arrive as a seeded Poisson process (the same arrivals in both runs) for
 * {@code --duration}, at most {@code --max-requests}; every request is waited for. Per run it
 * prints requests sent, admitted, rejected by reason, 429s, errors, the percentage of admitted
 * requests that completed with TTFT within the SLO, goodput (requests completed within the SLO per
 * second of the run) and the admitted requests' TTFT p50 / p99 (as the client measures them:
 * request written to first streamed token). The goal: with admission on, at least 99% of
 * admitted requests on time and goodput at least that of admission off. Fails (exit 1) if a request
 * never ended.
 */
@Command(name = "admission", mixinStandardHelpOptions = true,
    description = "Local admission on vs off at 2x capacity (Poisson arrivals): on-time %%, goodput, rejections.")
public final class AdmissionBenchCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--model", defaultValue = "random:stories15M", description = "random:NAME or a model file (default: ${DEFAULT-VALUE})")
  String model;

  @Option(names = "--models", defaultValue = "3", description = "instances of the model on the device (default: ${DEFAULT-VALUE})")
  int instances;

  @Option(names = "--ttft-slo", converter = DurationConverter.class, defaultValue = "1s", description = "TTFT SLO of every instance (default: ${DEFAULT-VALUE})")
  Duration ttftSlo;

  @Option(names = "--prompt-tokens", defaultValue = "64", description = "prompt length (default: ${DEFAULT-VALUE})")
  int promptTokens;

  @Option(names = "--max-tokens", defaultValue = "32", description = "generated tokens per request (default: ${DEFAULT-VALUE})")
  int maxTokens;

  @Option(names = "--load", defaultValue = "2", description = "arrival rate as a multiple of the measured capacity (default: ${DEFAULT-VALUE})")
  double load;

  @Option(names = "--rate", description = "arrivals per second; skips the capacity measurement")
  Double rate;

  @Option(names = "--duration", converter = DurationConverter.class, defaultValue = "15s", description = "arrival window of each run (default: ${DEFAULT-VALUE})")
  Duration duration;

  @Option(names = "--max-requests", defaultValue = "2000", description = "most requests per run (default: ${DEFAULT-VALUE})")
  int maxRequests;

  @Option(names = "--capacity-requests", defaultValue = "48", description = "burst size of the capacity measurement (default: ${DEFAULT-VALUE})")
  int capacityRequests;

  @Option(names = "--threads", defaultValue = "1", description = "forward-pass threads of the device (default: ${DEFAULT-VALUE})")
  int threads;

  @Option(names = "--gpu-memory", defaultValue = "1GiB", description = "memory budget of the device (default: ${DEFAULT-VALUE})")
  String gpuMemory;

  @Option(names = "--seed", defaultValue = "7", description = "seed of arrivals, model choice and prompts (default: ${DEFAULT-VALUE})")
  long seed;

  @Option(names = "--warm-up", defaultValue = "true", negatable = true, description = "JIT warm-up of the host kernels first (default: on)")
  boolean warmUp;

  /** Waiting for the responses after the last arrival: generous, every request ends by itself. */
  private static final long WAIT_MILLIS = Duration.ofMinutes(10).toMillis();

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    if (instances < 1 || promptTokens < 1 || maxTokens < 1 || load <= 0 || duration.isNegative() || duration.isZero() || maxRequests < 1
        || capacityRequests < 1 || threads < 1 || (rate != null && rate <= 0)) {
      throw new IllegalArgumentException("need --models, --prompt-tokens, --max-tokens, --max-requests, --capacity-requests, --threads >= 1, "
          + "--load, --rate, --duration > 0");
    }
    List<ModelSpec> specs = new ArrayList<>();
    for (int i = 0; i < instances; i++) specs.add(new ModelSpec("m" + i, model, null, ttftSlo, Duration.ofSeconds(10), 0));
    LoadedModel loaded = ModelStore.fileLoader("host").load(specs.get(0));
    if (promptTokens + maxTokens > loaded.config().maxSeqLen()) {
      throw new IllegalArgumentException("--prompt-tokens + --max-tokens must fit the context of " + loaded.config().maxSeqLen());
    }
    out.printf("prism bench admission: %d x %s on one host device (%d forward thread(s)), TTFT SLO %d ms, prompt %d tokens, %d generated%n",
        instances, model, threads, ttftSlo.toMillis(), promptTokens, maxTokens);
    out.flush();
    if (warmUp) KernelWarmUp.run(Duration.ofSeconds(3));
    double capacity = Double.NaN;
    double arrivals = rate != null ? rate : Double.NaN;
    AdmissionReport offRun = null;
    List<AdmissionReport> reports = new ArrayList<>();
    for (boolean on : new boolean[] {false, true}) {
      List<String> ids = specs.stream().map(ModelSpec::id).toList();
      try (InProcessServer s = InProcessServer.start(overrides(on));
          OpenLoopLoad loadGen = new OpenLoopLoad(s.port(), ids, loaded.config().vocabSize(), loaded.tokenizer().bosId(), promptTokens,
              maxTokens, (int) WAIT_MILLIS)) {
        s.register(specs);
        loadGen.run(1e9, capacityRequests, seed + 1000, WAIT_MILLIS); // warm-up burst (JIT, prefill-speed samples)
        if (Double.isNaN(arrivals)) {
          List<OpenLoopLoad.Outcome> burst = loadGen.run(1e9, capacityRequests, seed + 2000, WAIT_MILLIS);
          AdmissionReport b = AdmissionReport.of("capacity", burst, ttftSlo);
          if (b.admitted() != capacityRequests || b.failedAfterAdmission() > 0) throw new IllegalStateException("capacity burst failed: " + b);
          capacity = capacityRequests / b.wallSeconds();
          arrivals = load * capacity;
          out.printf("capacity: %.2f requests/s (burst of %d, admission off); arrivals at %.2f requests/s for %d s%n", capacity, capacityRequests,
              arrivals, duration.toSeconds());
          out.flush();
        }
        int count = (int) Math.max(1, Math.min(maxRequests, Math.round(arrivals * duration.toMillis() / 1000.0)));
        AdmissionReport r = AdmissionReport.of(on ? "on" : "off", loadGen.run(arrivals, count, seed, WAIT_MILLIS), ttftSlo);
        reports.add(r);
        if (!on) offRun = r;
      }
    }
    if (rate != null) out.printf("arrivals at %.2f requests/s (--rate) for %d s%n", arrivals, duration.toSeconds());
    AdmissionReport.header(out);
    for (AdmissionReport r : reports) r.print(out);
    out.flush();
    for (AdmissionReport r : reports) {
      if (r.ended() != r.sent()) throw new IllegalStateException("run " + r.label() + ": " + (r.sent() - r.ended()) + " request(s) never ended");
    }
    return offRun == null ? 1 : 0;
  }

  private Map<String, Object> overrides(boolean deadlineAdmission) {
    Map<String, Object> o = new HashMap<>();
    o.put("prism.node.backend", "host");
    o.put("prism.node.gpu-count", 1);
    o.put("prism.gpu.host-threads", threads);
    o.put("prism.gpu.memory-budget", gpuMemory);
    o.put("prism.gpu.evict-idle-models", "off");
    o.put("prism.gpu.deadline-admission", deadlineAdmission ? "on" : "off");
    return o;
  }
}
