package io.prism.app.bench;

import io.prism.runtime.policy.Slo;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One replay run: a policy at one rate scale. In process: a fresh {@link ReplayServer} for the
 * policy; with a {@link ReplayTarget}: the running server. Then a warm-up request per model, the
 * memory poller, the workload through {@link ReplayDriver}, and the summary. The server is closed
 * whatever happens.
 *
 * <p>Threading: blocks its caller for the run.
 */
final class ReplayRun {
  /** How often {@code /admin/gpus} is sampled. */
  static final Duration SAMPLE_INTERVAL = Duration.ofMillis(500);

  private ReplayRun() {}

  /**
   * Runs {@code policy} on {@code load}.
   *
   * @param target a running server, or {@code null} to start one in this process
   * @param progress where the progress bar goes, or {@code null}
   * @throws Exception what starting the server or registering its models throws
   */
  static ReplayReport.Run run(ReplayPolicy policy, double scale, ReplayWorkload.Built load, Map<String, Slo> slos, ReplayServer.Rig rig,
      ReplayDriver.Limits limits, ReplayTarget target, PrintWriter progress) throws Exception {
    Map<String, Integer> vocab = new LinkedHashMap<>();
    load.configs().forEach((id, c) -> vocab.put(id, c.vocabSize()));
    if (target != null) return drive(policy, scale, load, slos, limits, target.address(), target.baseUrl(), vocab, progress);
    try (ReplayServer s = ReplayServer.start(policy, rig, load.sources(), slos)) {
      return drive(policy, scale, load, slos, limits, s.address(), s.baseUrl(), vocab, progress);
    }
  }

  private static ReplayReport.Run drive(ReplayPolicy policy, double scale, ReplayWorkload.Built load, Map<String, Slo> slos,
      ReplayDriver.Limits limits, InetSocketAddress address, String baseUrl, Map<String, Integer> vocab, PrintWriter progress) throws Exception {
    ReplayServer.warmUp(address, vocab, limits.requestTimeout());
    List<ReplayRecord> records;
    double gpuSeconds;
    List<MemoryPoller.Sample> memory;
    try (MemoryPoller poller = new MemoryPoller(baseUrl, SAMPLE_INTERVAL)) {
      records = ReplayDriver.run(address, policy.name(), scale, load.workload(), vocab, slos, limits, progress);
      poller.close();
      gpuSeconds = poller.gpuSeconds();
      memory = poller.samples();
    }
    ReplaySummary summary = ReplaySummary.of(policy.name(), scale, records, load.workload().durationNanos() / 1e9, gpuSeconds);
    return new ReplayReport.Run(summary, records, memory);
  }
}
