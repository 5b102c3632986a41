package io.prism.app.bench.cluster;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;

/**
 * Runs one {@link FailoverScenario} on a fresh {@link LocalCluster}: registers {@code models}
 * random models (ids {@code m0, m1, ...}) through node 0, starts a {@link SteadyLoad} entering the
 * nodes the event does not hit, lets it run for {@code warmup}, reads where each model is, fires the
 * event, keeps the load on for {@code observe} (plus the scenario's own steps), stops it, waits for
 * every request to be recorded (they go to {@code requests.csv} beside the node logs), checks the
 * catalog and returns the {@link FailoverRow}. Models are registered with a TTFT SLO of 60 s and a
 * TPOT SLO of 10 s, so that local admission refuses nothing on a loaded CPU. Every
 * process it started is stopped by PID when it returns or throws.
 *
 * <p>Threading: one scenario at a time, from the caller's thread; progress lines go to {@code progress}.
 */
public final class FailoverRun {
  /**
   * @param nodes cluster size
   * @param models number of models registered
   * @param modelSource what each model is ({@code random:NAME} or a path the nodes can read)
   * @param ratePerModel requests per second per model
   * @param promptTokens prompt length
   * @param maxTokens tokens generated per request
   * @param requestTimeout the client's bound on a request (longer: hung)
   * @param warmup load before the event
   * @param observe load after the event (per phase: after the kill, after the restart of a rejoin)
   * @param profile HOCON profile of the nodes ({@code --config}), null for none
   * @param nodeProperties {@code -D} settings of every node (win over the profile)
   * @param gpusPerNode host devices per node
   * @param gpuMemory budget of each device
   * @param logBase directory under which each run gets its own directory of node logs
   * @param clientRetries retries of a retryable failure, as the OpenAI clients make them ({@link SteadyLoad}; their default 2)
   */
  public record Settings(int nodes, int models, String modelSource, double ratePerModel, int promptTokens, int maxTokens, Duration requestTimeout,
      Duration warmup, Duration observe, Path profile, Map<String, String> nodeProperties, int gpusPerNode, String gpuMemory, Path logBase,
      int clientRetries) {
    public Settings {
      if (clientRetries < 0) throw new IllegalArgumentException("clientRetries must be >= 0, got " + clientRetries);
      if (nodes < 2) throw new IllegalArgumentException("nodes must be >= 2 (a failover needs a survivor), got " + nodes);
      if (models < 1) throw new IllegalArgumentException("models must be >= 1, got " + models);
      nodeProperties = Map.copyOf(nodeProperties);
    }
  }

  private static final Duration CALL = Duration.ofSeconds(10);
  /**
   * SLOs of the models: generous, so that local admission (which drops a request it estimates would
   * miss its TTFT) does not fail requests of a loaded CPU: the run measures failover, not admission.
   */
  private static final Duration TTFT_SLO = Duration.ofSeconds(60), TPOT_SLO = Duration.ofSeconds(10);
  private static final Duration EXIT_BOUND = Duration.ofSeconds(60);
  /**
   * Bound of a node's start (JVM up, cluster joined, HTTP answering): a JVM starts in ~10 s on an idle
   * 2-core machine, but took over 120 s on one shared with five other builds.
   */
  private static final Duration START_BOUND = Duration.ofSeconds(180);
  /** How long the end-of-run check retries requests for models not served yet. */
  private static final Duration CATALOG_BOUND = Duration.ofSeconds(20);

  private final Settings settings;
  private final PrintWriter progress;

  public FailoverRun(Settings settings, PrintWriter progress) {
    this.settings = settings;
    this.progress = progress;
  }

  /**
   * Runs {@code scenario} and returns its row.
   *
   * @throws TimeoutException if the cluster does not start, a model is not registered, or a restarted
   *     node does not come up within its bound
   * @throws IOException if a process or the log directory cannot be created, or registration fails
   */
  public FailoverRow run(FailoverScenario scenario) throws IOException, TimeoutException, InterruptedException {
    LocalCluster.Options o = new LocalCluster.Options(settings.nodes(), settings.gpusPerNode(), settings.gpuMemory(), settings.profile(),
        List.of("-Xmx512m", "-XX:+UseSerialGC"), settings.nodeProperties(), LocalCluster.runDir(settings.logBase(), scenario.label()),
        START_BOUND);
    long t = System.nanoTime();
    try (LocalCluster c = LocalCluster.start(o)) {
      say("%s: %d nodes up in %.1f s, logs in %s", scenario.label(), settings.nodes(), (System.nanoTime() - t) / 1e9, o.runDir());
      List<String> ids = new ArrayList<>();
      for (int i = 0; i < settings.models(); i++) {
        ids.add("m" + i);
        c.http().register(c.node(0), "m" + i, settings.modelSource(), TTFT_SLO, TPOT_SLO, Duration.ofSeconds(120));
      }
      Map<String, String> where = placement(c, c.node(0));
      say("%s: models placed %s", scenario.label(), where);
      LocalNode target = switch (scenario) {
        case KILL_SINGLETON_NODE -> c.oldest();
        case ROLLING_RESTART -> null;
        default -> youngestWithModels(c, where);
      };
      List<LocalNode> entries = new ArrayList<>(c.live());
      entries.remove(target);
      SteadyLoad load = new SteadyLoad(c.http(), new SteadyLoad.Options(ids, settings.ratePerModel(), settings.promptTokens(), settings.maxTokens(),
          settings.requestTimeout(), settings.clientRetries()), entries);
      List<RequestRecord> records = null;
      load.start();
      try {
        hold(settings.warmup());
        where = placement(c, entries.get(0));
        Set<String> affected = new LinkedHashSet<>();
        for (Map.Entry<String, String> e : where.entrySet()) if (target == null || target.hostPort().equals(e.getValue())) affected.add(e.getKey());
        String targetLabel = target == null ? "all nodes" : target.name() + (target == c.oldest() ? " (singleton)" : " (models)");
        say("%s: event on %s (pid %d), its models %s", scenario.label(), targetLabel, target == null ? -1 : target.pid(), affected);
        long event = System.nanoTime();
        String notes = switch (scenario) {
          case KILL_MODEL_NODE, KILL_SINGLETON_NODE -> {
            target.kill9();
            hold(settings.observe());
            yield affected.isEmpty() ? "no model on the killed node" : "";
          }
          case SIGTERM -> sigterm(target, event);
          case ROLLING_RESTART -> rollingRestart(c, load);
          case REJOIN -> rejoin(c, load, target, entries.get(0), event);
        };
        records = load.stopAndAwait();
        writeCsv(o.runDir().resolve("requests.csv"), records, event);
        LocalNode via = c.live().get(c.live().size() - 1);
        String catalog = catalogProblem(c, via, ids);
        if (!catalog.isEmpty()) notes = (notes.isEmpty() ? "" : notes + "; ") + catalog;
        return FailoverRow.of(scenario.label(), targetLabel, records, affected, target == null, event, catalog.isEmpty(), notes);
      } finally {
        if (records == null) load.stopAndAwait();
      }
    }
  }

  private String sigterm(LocalNode target, long event) throws InterruptedException {
    target.terminate();
    boolean exited = target.awaitExit(settings.observe());
    double exitSeconds = (System.nanoTime() - event) / 1e9;
    hold(settings.observe().minusNanos(System.nanoTime() - event));
    return exited ? String.format(Locale.ROOT, "exited %.1f s after SIGTERM (code %d)", exitSeconds, target.exitCode())
        : "still running " + settings.observe().toSeconds() + " s after SIGTERM";
  }

  /** SIGTERM, exit and restart of each node in turn, youngest first; the load avoids the node being restarted. */
  private String rollingRestart(LocalCluster c, SteadyLoad load) throws IOException, TimeoutException, InterruptedException {
    List<LocalNode> order = new ArrayList<>(c.live());
    java.util.Collections.reverse(order);
    List<String> steps = new ArrayList<>();
    for (LocalNode n : order) {
      List<LocalNode> others = new ArrayList<>(c.live());
      others.remove(n);
      load.entries(others);
      long t0 = System.nanoTime();
      n.terminate();
      boolean exited = n.awaitExit(EXIT_BOUND);
      if (!exited) {
        n.kill9();
        n.awaitExit(Duration.ofSeconds(10));
      }
      double exit = (System.nanoTime() - t0) / 1e9;
      c.restart(n, START_BOUND);
      load.entries(c.live());
      steps.add(String.format(Locale.ROOT, "%s %s%.1f+%.1f s", n.name(), exited ? "" : "KILLED after ", exit, (System.nanoTime() - t0) / 1e9 - exit));
      say("rolling-restart: %s", steps.get(steps.size() - 1));
    }
    hold(settings.observe());
    return "exit+up: " + String.join(", ", steps);
  }

  /** kill -9, wait (bounded) for its models to be served elsewhere, restart it, wait (bounded) for it to get models. */
  private String rejoin(LocalCluster c, SteadyLoad load, LocalNode target, LocalNode via, long event)
      throws IOException, TimeoutException, InterruptedException {
    target.kill9();
    target.awaitExit(Duration.ofSeconds(10));
    String replaced;
    try {
      LocalCluster.await(() -> servedAway(c, via, target), settings.observe(), "models of " + target.name() + " placed elsewhere");
      replaced = String.format(Locale.ROOT, "re-placed %.1f s after kill", (System.nanoTime() - event) / 1e9);
    } catch (TimeoutException e) {
      replaced = "not re-placed " + settings.observe().toSeconds() + " s after kill";
    }
    long restart = System.nanoTime();
    c.restart(target, START_BOUND);
    double up = (System.nanoTime() - restart) / 1e9;
    load.entries(c.live());
    String got;
    try {
      LocalCluster.await(() -> placementOrEmpty(c, via).containsValue(target.hostPort()), settings.observe(), "a model on " + target.name());
      long n = placementOrEmpty(c, via).values().stream().filter(target.hostPort()::equals).count();
      got = String.format(Locale.ROOT, "got %d model(s) %.1f s after restart", n, (System.nanoTime() - restart) / 1e9);
    } catch (TimeoutException e) {
      got = "NO models " + settings.observe().toSeconds() + " s after restart";
    }
    return String.format(Locale.ROOT, "%s; rejoined (up) %.1f s after restart; %s", replaced, up, got);
  }

  private static boolean servedAway(LocalCluster c, LocalNode via, LocalNode gone) {
    try {
      List<ClusterHttp.ModelRow> rows = c.http().models(via, CALL);
      return !rows.isEmpty() && rows.stream().allMatch(r -> "ready".equals(r.state()) && r.hostPort() != null && !r.hostPort().equals(gone.hostPort()));
    } catch (IOException e) {
      return false;
    }
  }

  /** Model id to the node ({@code 127.0.0.1:PORT}) of its GPU, as {@code via}'s {@code GET /admin/models} says. */
  static Map<String, String> placement(LocalCluster c, LocalNode via) throws IOException {
    Map<String, String> m = new java.util.TreeMap<>();
    for (ClusterHttp.ModelRow r : c.http().models(via, CALL)) if (r.hostPort() != null) m.put(r.id(), r.hostPort());
    return m;
  }

  private static Map<String, String> placementOrEmpty(LocalCluster c, LocalNode via) {
    try {
      return placement(c, via);
    } catch (IOException e) {
      return Map.of();
    }
  }

  /** The youngest live node that holds a model (the youngest node if none does). */
  private static LocalNode youngestWithModels(LocalCluster c, Map<String, String> where) {
    List<LocalNode> live = c.live();
    for (int i = live.size() - 1; i >= 0; i--) if (where.containsValue(live.get(i).hostPort())) return live.get(i);
    return live.get(live.size() - 1);
  }

  /**
   * Empty if {@code via}'s {@code /v1/models} lists every model of {@code ids} and each serves a
   * request (retried together for up to 20 s), else what is wrong.
   */
  private String catalogProblem(LocalCluster c, LocalNode via, List<String> ids) throws InterruptedException {
    Set<String> listed;
    try {
      listed = c.http().servedModels(via, CALL);
    } catch (IOException e) {
      return "catalog not readable: " + e.getMessage();
    }
    List<String> missing = ids.stream().filter(id -> !listed.contains(id)).toList();
    if (!missing.isEmpty()) return "missing from /v1/models: " + missing;
    SteadyLoad probe = new SteadyLoad(c.http(), new SteadyLoad.Options(ids, 1, settings.promptTokens(), 4, CALL), List.of(via));
    Map<String, String> unserved = new java.util.TreeMap<>();
    for (String id : ids) unserved.put(id, "not tried");
    long deadline = System.nanoTime() + CATALOG_BOUND.toNanos();
    for (int attempt = 0; !unserved.isEmpty() && System.nanoTime() < deadline; attempt++) {
      if (attempt > 0) LockSupport.parkNanos(Duration.ofMillis(500).toNanos()); // retry pacing, not a wait for an event
      for (String id : List.copyOf(unserved.keySet())) {
        try {
          ClusterHttp.Reply r = c.http().call(via, "/v1/completions", probe.body(id, attempt), CALL);
          if (r.status() == 200 && r.body().contains("data: [DONE]") && !r.body().contains("\"error\":")) unserved.remove(id);
          else unserved.put(id, "HTTP " + r.status());
        } catch (IOException e) {
          unserved.put(id, e.getMessage());
        }
      }
    }
    return unserved.isEmpty() ? "" : "not servable: " + unserved;
  }

  /** One line per request: model, entry node, seconds from the event to its sending and its end, outcome, status, detail. */
  static void writeCsv(Path file, List<RequestRecord> records, long eventNanos) throws IOException {
    List<String> lines = new ArrayList<>();
    lines.add("model,node,sent_s,end_s,outcome,status,detail");
    for (RequestRecord r : records) {
      lines.add(String.format(Locale.ROOT, "%s,%s,%.3f,%.3f,%s,%d,\"%s\"", r.model(), r.node(), r.sentSecondsAfter(eventNanos),
          r.endSecondsAfter(eventNanos), r.outcome(), r.status(), r.detail().replace("\"", "\"\"")));
    }
    java.nio.file.Files.write(file, lines);
  }

  /** Keeps the load running for {@code d} (a measurement window, not a wait for an event). */
  private static void hold(Duration d) throws InterruptedException {
    long end = System.nanoTime() + Math.max(0, d.toNanos());
    for (long left = end - System.nanoTime(); left > 0; left = end - System.nanoTime()) {
      LockSupport.parkNanos(left);
      if (Thread.interrupted()) throw new InterruptedException();
    }
  }

  private void say(String format, Object... args) {
    progress.printf(Locale.ROOT, format + "%n", args);
    progress.flush();
  }
}
