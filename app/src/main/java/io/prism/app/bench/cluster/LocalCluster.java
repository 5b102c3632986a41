package io.prism.app.bench.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;
import java.util.concurrent.locks.LockSupport;

/**
 * Starts a Prism cluster of N nodes as separate JVMs on loopback, for failover benchmarks and
 * multi-process tests: each node is {@code java -cp <this JVM's class path> io.prism.app.cli.PrismCli
 * serve --host 127.0.0.1 --port P --cluster-port C --seed ... --backend host --gpus G --config
 * PROFILE}, with free ports chosen at start (and kept across restarts), an empty model directory
 * (models are registered at runtime through {@code POST /admin/models}) and its stdout and stderr in
 * {@code <runDir>/nodeI-gK.log}.
 *
 * <p>Cluster formation: node 0 lists only itself as seed and so forms the cluster; once it is up,
 * the others start together, list node 0 and join it. Node 0 is thus the oldest member and holds
 * the cluster singletons (the placement singleton); later, the oldest live node is the one seen up
 * first ({@link #oldest()}; between nodes started together the order seen is a guess). A restarted node lists the other live nodes, oldest first, as seeds, so it
 * joins the running cluster and never forms a second one.
 *
 * <p>Waits are bounded polls of HTTP endpoints ({@code /health}, {@code /admin/gpus}), never fixed
 * sleeps; a wait that runs out throws {@link TimeoutException} naming what it waited for and the
 * node's log. {@link #close()} stops every process this launcher started, by PID (SIGTERM, then
 * SIGKILL after a bound), and a JVM shutdown hook does the same (SIGKILL) if the launcher's JVM
 * exits without closing it (a failed test, Ctrl-C).
 *
 * <p>Threading: start, restart and close from one thread; the node getters may be read from any.
 */
public final class LocalCluster implements AutoCloseable {
  /**
   * What to start.
   *
   * @param nodes number of nodes (>= 1)
   * @param gpusPerNode host devices of each node ({@code --gpus})
   * @param gpuMemory memory budget of each device ({@code --gpu-memory}, e.g. {@code 128MiB})
   * @param profile HOCON profile passed as {@code --config} (e.g. {@code conf/cluster-3-nodes.conf}),
   *     null for none; the flags above and the ports win over it
   * @param jvmOptions extra JVM options of each node (heap, GC)
   * @param properties extra {@code -Dkey=value} of each node: they win over the profile and the flags
   * @param runDir directory for the logs and the empty model directory (created)
   * @param startTimeout bound of each wait for a node to be up
   */
  public record Options(int nodes, int gpusPerNode, String gpuMemory, Path profile, List<String> jvmOptions,
      Map<String, String> properties, Path runDir, Duration startTimeout) {
    public Options {
      if (nodes < 1) throw new IllegalArgumentException("nodes must be >= 1, got " + nodes);
      if (gpusPerNode < 1) throw new IllegalArgumentException("gpusPerNode must be >= 1, got " + gpusPerNode);
      if (profile != null && !Files.isRegularFile(profile)) throw new IllegalArgumentException("no profile file at " + profile.toAbsolutePath());
      jvmOptions = List.copyOf(jvmOptions);
      properties = Map.copyOf(properties);
    }

    /** Defaults: 1 GPU of 128 MiB per node, 512 MiB heap, serial GC, 90 s to start. */
    public static Options defaults(int nodes, Path profile, Path runDir) {
      return new Options(nodes, 1, "128MiB", profile, List.of("-Xmx512m", "-XX:+UseSerialGC"), Map.of(), runDir, Duration.ofSeconds(90));
    }
  }

  private static final Duration POLL = Duration.ofMillis(200);
  private static final Duration CALL = Duration.ofSeconds(5);

  private final Options options;
  private final List<LocalNode> nodes;
  private final Path modelsDir;
  private final ClusterHttp http = new ClusterHttp();
  private final Thread killer;
  /** Set before the shutdown hook kills the nodes: a process started after it is killed by its launcher. */
  private volatile boolean killing;

  private LocalCluster(Options options, List<LocalNode> nodes, Path modelsDir) {
    this.options = options;
    this.nodes = List.copyOf(nodes);
    this.modelsDir = modelsDir;
    this.killer = new Thread(() -> {
      killing = true;
      nodes.forEach(LocalNode::kill9);
    }, "local-cluster-killer");
    Runtime.getRuntime().addShutdownHook(killer);
  }

  /**
   * Starts the cluster and waits until every node is up and its GPUs are known cluster-wide.
   *
   * @throws TimeoutException if a node is not up within {@link Options#startTimeout()} (every process
   *     started is stopped before it is thrown)
   * @throws IOException if the run directory or a process cannot be created
   */
  public static LocalCluster start(Options options) throws IOException, TimeoutException, InterruptedException {
    Files.createDirectories(options.runDir());
    Path models = Files.createDirectories(options.runDir().resolve("models-empty"));
    int[] ports = freePorts(2 * options.nodes());
    List<LocalNode> nodes = new ArrayList<>();
    for (int i = 0; i < options.nodes(); i++) nodes.add(new LocalNode(i, ports[2 * i], ports[2 * i + 1]));
    LocalCluster c = new LocalCluster(options, nodes, models);
    try {
      LocalNode first = nodes.get(0);
      c.launch(first, List.of(first));
      c.awaitUp(first, options.startTimeout());
      for (LocalNode n : nodes.subList(1, nodes.size())) c.launch(n, List.of(first));
      for (LocalNode n : nodes.subList(1, nodes.size())) c.awaitUp(n, options.startTimeout());
      c.awaitGpusKnown(nodes.get(0), nodes, options.startTimeout());
      return c;
    } catch (IOException | TimeoutException | RuntimeException e) {
      c.close();
      throw e;
    }
  }

  /** Every node, in start order. */
  public List<LocalNode> nodes() {
    return nodes;
  }

  /** Node {@code index}. */
  public LocalNode node(int index) {
    return nodes.get(index);
  }

  /** The nodes whose process runs and that were seen up, oldest first. */
  public List<LocalNode> live() {
    return nodes.stream().filter(n -> n.isAlive() && n.joinedNanos() != Long.MAX_VALUE)
        .sorted(Comparator.comparingLong(LocalNode::joinedNanos)).toList();
  }

  /**
   * The oldest live node, which holds the placement singleton (Pekko runs cluster singletons on the
   * oldest member).
   *
   * @throws IllegalStateException if no node is live
   */
  public LocalNode oldest() {
    List<LocalNode> l = live();
    if (l.isEmpty()) throw new IllegalStateException("no live node");
    return l.get(0);
  }

  /** The node whose Artery address is {@code hostPort} ({@code 127.0.0.1:PORT}), or null. */
  public LocalNode byHostPort(String hostPort) {
    for (LocalNode n : nodes) if (n.hostPort().equals(hostPort)) return n;
    return null;
  }

  /** The HTTP calls (shared client). */
  public ClusterHttp http() {
    return http;
  }

  /** The directory with the logs. */
  public Path runDir() {
    return options.runDir();
  }

  /**
   * Starts a new incarnation of a node that has exited (same ports), joining the live nodes, and
   * waits until it is up and its GPUs are known to the cluster.
   *
   * @throws IllegalStateException if the node still runs
   * @throws TimeoutException if it is not up within {@code timeout}
   */
  public void restart(LocalNode node, Duration timeout) throws IOException, TimeoutException, InterruptedException {
    if (node.isAlive()) throw new IllegalStateException(node + " still runs; stop it first");
    List<LocalNode> seeds = live();
    launch(node, seeds.isEmpty() ? List.of(node) : seeds);
    awaitUp(node, timeout);
    awaitGpusKnown(node, List.of(node), timeout);
  }

  private void launch(LocalNode node, List<LocalNode> seeds) throws IOException {
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    List<String> cmd = new ArrayList<>(List.of(java.toString(), "--add-modules", "jdk.incubator.vector", "-Xss4m",
        // LMDB (the durable catalog of the cluster profile) reads direct buffers' addresses
        "--add-opens", "java.base/java.nio=ALL-UNNAMED", "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED"));
    cmd.addAll(options.jvmOptions());
    Map<String, String> props = new LinkedHashMap<>();
    props.put("pekko.remote.artery.canonical.hostname", "127.0.0.1");
    props.putAll(options.properties());
    props.forEach((k, v) -> cmd.add("-D" + k + "=" + v));
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), "io.prism.app.cli.PrismCli", "serve",
        "--host", "127.0.0.1", "--port", String.valueOf(node.httpPort()), "--cluster-port", String.valueOf(node.clusterPort()),
        "--backend", "host", "--gpus", String.valueOf(options.gpusPerNode()), "--gpu-memory", options.gpuMemory(),
        "--models", modelsDir.toString()));
    for (LocalNode s : seeds) cmd.addAll(List.of("--seed", s.seedAddress()));
    if (options.profile() != null) cmd.addAll(List.of("--config", options.profile().toAbsolutePath().toString()));
    Path log = options.runDir().resolve(node.name() + "-g" + (node.generation() + 1) + ".log");
    Files.writeString(log, String.join(" ", cmd) + System.lineSeparator());
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    pb.environment().remove("PRISM_MODELS");
    node.started(pb.start(), log);
    if (killing) node.kill9(); // the JVM is exiting and its hook may have passed this node already: no orphan
  }

  /**
   * Waits until {@code GET /health} of {@code node} answers 200 (HTTP binds after the node's GPUs
   * are up in the cluster) and marks the node joined.
   *
   * @throws TimeoutException if not within {@code timeout}, or at once if its process exits
   */
  public void awaitUp(LocalNode node, Duration timeout) throws TimeoutException {
    await(() -> {
      if (!node.isAlive()) throw new IllegalStateException(node + " exited with " + node.exitCode() + "; see " + node.logFile());
      return http.health(node, CALL) == 200;
    }, timeout, node + " answering /health with 200 (log " + node.logFile() + ")");
    node.markJoined();
  }

  /**
   * Waits until {@code GET /admin/gpus} of {@code via} lists a healthy GPU of every node of {@code
   * expected} (the placement knows them and the sharding reaches them).
   *
   * @throws TimeoutException if not within {@code timeout}
   */
  public void awaitGpusKnown(LocalNode via, List<LocalNode> expected, Duration timeout) throws TimeoutException {
    await(() -> {
      Set<String> seen = new HashSet<>();
      try {
        ClusterHttp.Reply r = http.call(via, "/admin/gpus", null, CALL);
        if (r.status() != 200) return false;
        for (JsonNode g : ClusterHttp.JSON.readTree(r.body()).path("data")) {
          if (g.path("healthy").asBoolean(false)) seen.add(g.path("node").asText());
        }
      } catch (IOException e) {
        return false;
      }
      return expected.stream().allMatch(n -> seen.contains(n.hostPort()));
    }, timeout, "GPUs of " + expected.stream().map(LocalNode::name).toList() + " listed healthy by " + via.name() + " /admin/gpus");
  }

  /**
   * Polls {@code condition} every 200 ms until it holds.
   *
   * @throws TimeoutException naming {@code what} if it does not hold within {@code timeout}
   */
  public static void await(BooleanSupplier condition, Duration timeout, String what) throws TimeoutException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() - deadline > 0) throw new TimeoutException("waited " + timeout.toSeconds() + " s for " + what);
      LockSupport.parkNanos(POLL.toNanos());
      if (Thread.interrupted()) throw new IllegalStateException("interrupted while waiting for " + what);
    }
  }

  /** {@code count} distinct free TCP ports on 127.0.0.1 (held open together, then released). */
  static int[] freePorts(int count) {
    List<ServerSocket> held = new ArrayList<>();
    try {
      int[] ports = new int[count];
      for (int i = 0; i < count; i++) {
        ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        held.add(s);
        ports[i] = s.getLocalPort();
      }
      return ports;
    } catch (IOException e) {
      throw new UncheckedIOException("no free port on 127.0.0.1", e);
    } finally {
      for (ServerSocket s : held) {
        try {
          s.close();
        } catch (IOException ignored) {
          // a port we could not close stays ours until exit: harmless here
        }
      }
    }
  }

  /** A fresh run directory {@code base/<timestamp>-<label>}. */
  public static Path runDir(Path base, String label) {
    return base.resolve(LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss-SSS")) + "-" + label);
  }

  /** Stops every process this launcher started, by PID: SIGTERM, SIGKILL after 10 s. */
  @Override
  public void close() {
    for (LocalNode n : nodes) n.terminate();
    try {
      for (LocalNode n : nodes) n.stop(Duration.ofSeconds(10));
    } catch (InterruptedException e) {
      nodes.forEach(LocalNode::kill9);
      Thread.currentThread().interrupt();
    }
    try {
      Runtime.getRuntime().removeShutdownHook(killer);
    } catch (IllegalStateException ignored) {
      // the JVM is already shutting down: the hook runs anyway and finds nothing left
    }
  }
}
