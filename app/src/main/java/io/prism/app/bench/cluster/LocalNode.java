package io.prism.app.bench.cluster;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * One Prism node of a {@link LocalCluster}: a separate JVM ({@code PrismCli serve}) on loopback, its
 * fixed HTTP and Artery ports (kept across restarts, as a real host keeps its address), and the
 * process of its current incarnation. A restart starts a new incarnation (a new process and PID) on
 * the same ports; {@link #generation()} counts them from 0.
 *
 * <p>Signals: {@link #kill9()} is {@link Process#destroyForcibly()} (SIGKILL on Linux: no shutdown
 * hook, no goodbye to the cluster), {@link #terminate()} is {@link Process#destroy()} (SIGTERM: the
 * JVM's shutdown hooks run, so Prism's graceful leave if it has one).
 *
 * <p>Threading: the launcher's thread changes the incarnation; the getters may be read from any
 * thread (the fields they read are volatile).
 */
public final class LocalNode {
  private final int index;
  private final int httpPort;
  private final int clusterPort;
  private volatile Process process;
  private volatile Path logFile;
  private volatile int generation = -1;
  private volatile long joinedNanos = Long.MAX_VALUE;

  LocalNode(int index, int httpPort, int clusterPort) {
    this.index = index;
    this.httpPort = httpPort;
    this.clusterPort = clusterPort;
  }

  /** Position of the node in its cluster, 0-based (node 0 forms the cluster). */
  public int index() {
    return index;
  }

  /** HTTP port on 127.0.0.1. */
  public int httpPort() {
    return httpPort;
  }

  /** Artery (cluster) port on 127.0.0.1. */
  public int clusterPort() {
    return clusterPort;
  }

  /** The node's cluster address as a seed list names it: {@code pekko://prism@127.0.0.1:PORT}. */
  public String seedAddress() {
    return "pekko://prism@127.0.0.1:" + clusterPort;
  }

  /** The node part of its GPU ids ({@code gpu-N@127.0.0.1:PORT}): {@code 127.0.0.1:PORT}. */
  public String hostPort() {
    return "127.0.0.1:" + clusterPort;
  }

  /** Short name for tables and messages: {@code node1}. */
  public String name() {
    return "node" + index;
  }

  /** PID of the current incarnation, or -1 before the first start. */
  public long pid() {
    Process p = process;
    return p == null ? -1 : p.pid();
  }

  /** Whether the current incarnation's process is running. */
  public boolean isAlive() {
    Process p = process;
    return p != null && p.isAlive();
  }

  /** Incarnations started so far minus one (-1 before the first). */
  public int generation() {
    return generation;
  }

  /** Log file (stdout and stderr) of the current incarnation, or null before the first start. */
  public Path logFile() {
    return logFile;
  }

  /**
   * {@link System#nanoTime()} at which the current incarnation was seen up (HTTP answering), or
   * {@link Long#MAX_VALUE} if it is not: the cluster's oldest member is the live node seen up first.
   */
  public long joinedNanos() {
    return joinedNanos;
  }

  void started(Process p, Path log) {
    this.process = p;
    this.logFile = log;
    this.generation++;
    this.joinedNanos = Long.MAX_VALUE;
  }

  void markJoined() {
    this.joinedNanos = System.nanoTime();
  }

  /** Sends SIGKILL to the current incarnation (nothing if it is not running). */
  public void kill9() {
    Process p = process;
    if (p != null) p.destroyForcibly();
  }

  /** Sends SIGTERM to the current incarnation (nothing if it is not running). */
  public void terminate() {
    Process p = process;
    if (p != null) p.destroy();
  }

  /**
   * Waits until the current incarnation has exited.
   *
   * @return whether it exited within {@code timeout}
   * @throws InterruptedException if interrupted while waiting
   */
  public boolean awaitExit(Duration timeout) throws InterruptedException {
    Process p = process;
    return p == null || p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** Exit code of the current incarnation, or null while it runs (or before the first start). */
  public Integer exitCode() {
    Process p = process;
    return p == null || p.isAlive() ? null : p.exitValue();
  }

  /**
   * Stops the current incarnation by PID: SIGTERM, then SIGKILL if it has not exited after {@code
   * grace}; waits (bounded) for the exit.
   *
   * @throws InterruptedException if interrupted while waiting
   */
  void stop(Duration grace) throws InterruptedException {
    Process p = process;
    if (p == null || !p.isAlive()) return;
    p.destroy();
    if (!p.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
      p.destroyForcibly();
      p.waitFor(10, TimeUnit.SECONDS);
    }
  }

  @Override
  public String toString() {
    return name() + "(pid " + pid() + ", http " + httpPort + ", cluster " + clusterPort + ")";
  }
}
