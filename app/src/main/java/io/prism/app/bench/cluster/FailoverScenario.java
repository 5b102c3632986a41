package io.prism.app.bench.cluster;

import java.util.Arrays;
import java.util.Locale;

/**
 * The failure scenarios of {@code prism bench failover} and of the multi-process tests (Prism issue
 * 10, "A cluster that survives"). Each runs on a fresh cluster under a {@link SteadyLoad} that enters
 * through the nodes the event does not hit.
 */
public enum FailoverScenario {
  /** kill -9 of the youngest node that holds models (never the singleton's node, when there is another). */
  KILL_MODEL_NODE("kill-model-node"),
  /** kill -9 of the oldest node, which holds the placement singleton (and models). */
  KILL_SINGLETON_NODE("kill-singleton-node"),
  /** SIGTERM of the youngest node that holds models, with requests in flight on its GPUs. */
  SIGTERM("sigterm"),
  /** SIGTERM and restart of every node in turn, youngest first, the load entering the nodes that are up. */
  ROLLING_RESTART("rolling-restart"),
  /** kill -9 of a model node, then a restart of it: does it rejoin and get models? */
  REJOIN("rejoin");

  private final String label;

  FailoverScenario(String label) {
    this.label = label;
  }

  /** The name on the command line and in the table. */
  public String label() {
    return label;
  }

  /**
   * The scenario named {@code label}.
   *
   * @throws IllegalArgumentException listing the names if none matches
   */
  public static FailoverScenario parse(String label) {
    for (FailoverScenario s : values()) if (s.label.equals(label.trim().toLowerCase(Locale.ROOT))) return s;
    throw new IllegalArgumentException("unknown scenario '" + label + "'; one of " + Arrays.stream(values()).map(FailoverScenario::label).toList());
  }
}
