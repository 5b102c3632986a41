package io.prism.app.bench;

import io.prism.actors.GpuId;
import io.prism.actors.ModelSpec;
import io.prism.actors.gpu.GpuActor;
import io.prism.actors.gpu.GpuStatus;
import io.prism.runtime.policy.Slo;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The in-process server of one replay run: {@link InProcessServer} with the devices of a {@link
 * Rig} and a policy's settings, the replay's models registered with their SLOs, the static
 * share applied when the policy asks for it, and one short warm-up request per model.
 *
 * <p>Threading: start, use and close from one thread.
 */
final class ReplayServer implements AutoCloseable {
  /**
   * The devices every run gets.
   *
   * @param backend {@code host} or {@code cuda}
   * @param gpus devices on the node
   * @param gpuMemory each device's budget for weights and KV (HOCON size, e.g. {@code 64MiB})
   * @param pageSize host page size (HOCON size); ignored by CUDA
   * @param threads forward-pass threads per host device
   * @param idleEviction the idle time of policies that evict after the paper's 45 s
   */
  record Rig(String backend, int gpus, String gpuMemory, String pageSize, int threads, Duration idleEviction) {}

  private final InProcessServer server;

  private ReplayServer(InProcessServer server) {
    this.server = server;
  }

  /**
   * Starts a server for {@code policy} and registers {@code sources} (model id -> source) with
   * {@code slos}; with a static share, caps each model at its GPU's KV pages over the models there.
   *
   * @throws IllegalStateException naming a model that could not be served
   * @throws Exception what starting the server throws
   */
  static ReplayServer start(ReplayPolicy policy, Rig d, Map<String, String> sources, Map<String, Slo> slos) throws Exception {
    Map<String, Object> o = new HashMap<>();
    o.put("prism.node.backend", d.backend());
    o.put("prism.node.gpu-count", d.gpus());
    o.put("prism.gpu.memory-budget", d.gpuMemory());
    o.put("prism.gpu.host-page-size", d.pageSize());
    o.put("prism.gpu.host-threads", d.threads());
    o.put("prism.gpu.idle-eviction", d.idleEviction().toMillis() + "ms");
    o.put("prism.gpu.report-interval", "500ms");
    o.put("prism.engine.max-queued-requests", 4096);
    o.put("pekko.loglevel", "WARNING");
    o.putAll(policy.settings());
    InProcessServer s = InProcessServer.start(o);
    ReplayServer rs = new ReplayServer(s);
    try {
      List<ModelSpec> specs = new ArrayList<>();
      for (Map.Entry<String, String> e : sources.entrySet()) {
        Slo slo = slos.get(e.getKey());
        specs.add(new ModelSpec(e.getKey(), e.getValue(), null, slo.ttft(), slo.tpot(), 0));
      }
      s.register(specs, registerTimeout(d));
      if (policy.staticShare()) rs.applyStaticShare(specs, registerTimeout(d));
      return rs;
    } catch (Exception | Error e) {
      s.close();
      throw e;
    }
  }

  /** Per GPU: capacity pages / models on it, as each model's {@code max_pages} (applied lazily, nothing taken back). */
  /** How long one model may take to be placed and loaded: host models are small, GPU ones are not. */
  private static Duration registerTimeout(Rig d) {
    return d.backend().equals("host") ? Duration.ofMinutes(2) : Duration.ofMinutes(10);
  }

  private void applyStaticShare(List<ModelSpec> specs, Duration timeout) throws Exception {
    Map<String, ModelSpec> byId = new HashMap<>();
    for (ModelSpec s : specs) byId.put(s.id(), s);
    List<ModelSpec> limited = new ArrayList<>();
    for (GpuId gpu : server.server().node().localGpus()) {
      GpuStatus st = server.server().node().gpuRef(gpu).<GpuStatus>ask(GpuActor.GetStatus::new, Duration.ofSeconds(10)).toCompletableFuture()
          .get(20, TimeUnit.SECONDS);
      int k = st.models().size();
      if (k == 0) continue;
      int share = Math.max(1, st.capacityPages() / k);
      for (GpuStatus.ModelStatus m : st.models()) {
        ModelSpec s = byId.get(m.modelId());
        if (s != null) limited.add(s.withLimits(0, share));
      }
    }
    server.register(limited, timeout);
  }

  /** The HTTP address (127.0.0.1 and the bound port). */
  InetSocketAddress address() {
    return new InetSocketAddress("127.0.0.1", server.port());
  }

  /** {@code http://127.0.0.1:PORT}. */
  String baseUrl() {
    return "http://127.0.0.1:" + server.port();
  }

  /**
   * Sends one short request per model (8 prompt tokens, 4 generated), one at a time, and checks
   * each streamed to its end.
   *
   * @throws IllegalStateException naming the model whose warm-up failed
   */
  static void warmUp(InetSocketAddress address, Map<String, Integer> vocab, Duration timeout) {
    try (SseClient c = new SseClient(address, (int) timeout.toMillis())) {
      int i = 0;
      for (Map.Entry<String, Integer> e : vocab.entrySet()) {
        SseClient.Result r = c.post("/v1/completions", HttpLoad.body(e.getKey(), Prompts.random(e.getValue(), 1, 8, 99_991L + i++), 4));
        if (!r.ok()) throw new IllegalStateException("warm-up request to model " + e.getKey() + " failed: status " + r.status() + ", " + r.error());
      }
    }
  }

  @Override
  public void close() {
    server.close();
  }
}
