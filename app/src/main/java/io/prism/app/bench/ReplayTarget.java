package io.prism.app.bench;

import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.policy.sim.Workload;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A server someone else runs ({@code --url}): its address and the model ids it serves, which take
 * the place of the replay's own model ids (model {@code i} of the workload becomes {@code
 * models[i]}). Prompts stay token ids of the shapes given by {@code --model-mix}, so those shapes
 * must match the served models (their vocabularies at least). Immutable.
 *
 * @param baseUrl {@code http://host:port}
 * @param address host and port
 * @param models the served model ids, one per workload model
 */
record ReplayTarget(String baseUrl, InetSocketAddress address, List<String> models) {

  /**
   * Parses {@code url} ({@code http://host:port}).
   *
   * @throws IllegalArgumentException if the URL is not plain HTTP with a host, or the models do not number {@code numModels}
   */
  static ReplayTarget remote(String url, List<String> models, int numModels) {
    URI u = URI.create(url.endsWith("/") ? url.substring(0, url.length() - 1) : url);
    if (!"http".equals(u.getScheme()) || u.getHost() == null) throw new IllegalArgumentException("--url must be http://HOST:PORT, got " + url);
    if (models == null || models.size() != numModels) {
      throw new IllegalArgumentException("--url needs --url-models with exactly --models (" + numModels + ") served model ids, got " + models);
    }
    int port = u.getPort() < 0 ? 80 : u.getPort();
    return new ReplayTarget("http://" + u.getHost() + ":" + port, new InetSocketAddress(u.getHost(), port), List.copyOf(models));
  }

  /** {@code built} with its model ids replaced by the target's ({@code built} itself when {@code target} is null). */
  static ReplayWorkload.Built rename(ReplayWorkload.Built built, ReplayTarget target) {
    if (target == null) return built;
    Map<String, String> names = new LinkedHashMap<>();
    List<Workload.SimModel> models = new ArrayList<>();
    Map<String, String> sources = new LinkedHashMap<>();
    Map<String, ModelConfig> configs = new LinkedHashMap<>();
    List<Workload.SimModel> in = built.workload().models();
    for (int i = 0; i < in.size(); i++) {
      Workload.SimModel m = in.get(i);
      String id = target.models().get(i);
      names.put(m.modelId(), id);
      models.add(new Workload.SimModel(id, m.profile(), m.meanRequestsPerSecond(), m.meanPromptTokens(), m.meanOutputTokens()));
      sources.put(id, built.sources().get(m.modelId()));
      configs.put(id, built.configs().get(m.modelId()));
    }
    List<Workload.Arrival> arrivals = new ArrayList<>();
    for (Workload.Arrival a : built.workload().arrivals()) {
      arrivals.add(new Workload.Arrival(a.requestId(), names.get(a.modelId()), a.arrivalNanos(), a.promptTokens(), a.outputTokens()));
    }
    return new ReplayWorkload.Built(Workload.of(models, arrivals, built.workload().durationNanos()), sources, configs, built.description());
  }
}
