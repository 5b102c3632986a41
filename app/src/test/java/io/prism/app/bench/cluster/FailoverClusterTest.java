package io.prism.app.bench.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Multi-process failover tests (Prism issue 10, "A cluster that survives"): three Prism nodes as
 * separate JVMs on loopback ({@link LocalCluster}, the shipped {@code conf/cluster-3-nodes.conf}
 * with CPU devices), three random models (one per node), a steady load of 2 requests/s per model
 * entering the nodes the event does not hit, each request bounded by a 15 s client timeout. They
 * assert the goals: no request hangs; no request fails for a model that was not on the node
 * hit; requests for the models that were succeed again within 15 s of a kill; a SIGTERM and a
 * rolling restart fail nothing; every model is still listed and servable at the end; a restarted
 * node gets models.
 *
 * <p>Tagged {@code cluster}: left out of the quick {@code mvn test}, run by {@code .ci/run} (and the
 * README's test commands) as {@code mvn -Pcluster test -pl app -am}. Clients retry as the OpenAI
 * clients do ({@link SteadyLoad}: a retryable 503 or a lost connection twice), so "failed" is what
 * such a client sees. Each test is bounded (JUnit timeout: 5 min, rejoin 7 min, rolling restart 10
 * min; on an idle 2-core machine a kill test takes about 1.5 min, most of it three JVMs starting; on
 * one shared with other builds up to 4 min) and stops every process it started by PID, also when it fails (the
 * launcher's close, and its shutdown hook if the test JVM exits). Node logs: {@code
 * app/target/prism-cluster-tests/<time>-<scenario>/}. The test JVM's class path (surefire's, which has
 * this module's classes and all its dependencies) starts the nodes.
 */
@Tag("cluster")
class FailoverClusterTest {
  private static final double RECOVERY_GOAL_SECONDS = 15;
  /** The OpenAI clients' default: a retryable 503 (x-should-retry: true) is retried twice before it is a failure. */
  private static final int CLIENT_RETRIES = 2;

  private static FailoverRun.Settings settings(Duration observe) {
    return new FailoverRun.Settings(3, 3, "random:stories260K", 2, 16, 32, Duration.ofSeconds(15), Duration.ofSeconds(3), observe,
        FailoverBenchCommand.findUpwards(Path.of("conf/cluster-3-nodes.conf")), Map.of(), 1, "128MiB", Path.of("target/prism-cluster-tests"), CLIENT_RETRIES);
  }

  private static FailoverRow run(FailoverScenario s, Duration observe) throws Exception {
    StringWriter progress = new StringWriter();
    FailoverRow row = new FailoverRun(settings(observe), new PrintWriter(progress, true)).run(s);
    System.out.println(progress);
    System.out.println(FailoverRow.header() + "\n" + row.line());
    return row;
  }

  private static String explain(FailoverRow r) {
    StringBuilder sb = new StringBuilder("\n").append(FailoverRow.header()).append('\n').append(r.line()).append('\n');
    r.failures().forEach((k, n) -> sb.append("  ").append(n).append("  ").append(k).append('\n'));
    return sb.toString();
  }

  private static void assertSurvived(FailoverRow r) {
    assertEquals(0, r.hung(), "no request may hang" + explain(r));
    assertEquals(0, r.unaffectedFailed(), "requests for models not on the node hit must not fail" + explain(r));
    assertTrue(r.steadySeconds() <= RECOVERY_GOAL_SECONDS,
        "requests for the models of the node hit must succeed again within " + RECOVERY_GOAL_SECONDS + " s" + explain(r));
    assertTrue(r.catalogIntact(), "every model must still be listed and servable" + explain(r));
  }

  @Test
  @Timeout(value = 300, unit = TimeUnit.SECONDS)
  void killOfAModelNodeHangsNothingAndItsModelsServeAgainWithin15Seconds() throws Exception {
    assertSurvived(run(FailoverScenario.KILL_MODEL_NODE, Duration.ofSeconds(20)));
  }

  @Test
  @Timeout(value = 300, unit = TimeUnit.SECONDS)
  void killOfTheSingletonNodeHangsNothingLosesNoModelAndItsModelsServeAgainWithin15Seconds() throws Exception {
    assertSurvived(run(FailoverScenario.KILL_SINGLETON_NODE, Duration.ofSeconds(20)));
  }

  @Test
  @Timeout(value = 300, unit = TimeUnit.SECONDS)
  void sigtermWithRequestsInFlightDrainsWithoutAFailedRequestAndExits() throws Exception {
    FailoverRow r = run(FailoverScenario.SIGTERM, Duration.ofSeconds(20));
    assertEquals(0, r.failed(), "a SIGTERM must fail no request" + explain(r));
    assertEquals(0, r.hung(), "no request may hang" + explain(r));
    assertTrue(r.notes().startsWith("exited"), "the node must exit after its drain" + explain(r));
    assertTrue(r.catalogIntact(), "every model must still be listed and servable" + explain(r));
  }

  @Test
  @Timeout(value = 420, unit = TimeUnit.SECONDS)
  void restartedNodeRejoinsAndGetsModels() throws Exception {
    FailoverRow r = run(FailoverScenario.REJOIN, Duration.ofSeconds(20));
    assertTrue(r.notes().contains("; got "), "the restarted node must get models" + explain(r));
    assertEquals(0, r.hung(), "no request may hang" + explain(r));
    assertEquals(0, r.unaffectedFailed(), "requests for models not on the node hit must not fail" + explain(r));
    assertTrue(r.catalogIntact(), "every model must still be listed and servable" + explain(r));
  }

  @Test
  @Timeout(value = 600, unit = TimeUnit.SECONDS)
  void rollingRestartOfEveryNodeFailsNoRequest() throws Exception {
    FailoverRow r = run(FailoverScenario.ROLLING_RESTART, Duration.ofSeconds(5));
    assertEquals(0, r.failed(), "a rolling restart must fail no request" + explain(r));
    assertEquals(0, r.hung(), "no request may hang" + explain(r));
    assertTrue(r.catalogIntact(), "every model must still be listed and servable" + explain(r));
  }
}
