package io.prism.actors.placement;

import com.typesafe.config.Config;
import io.prism.runtime.policy.KvprPlacement;
import io.prism.runtime.policy.MigrationBudget;
import io.prism.runtime.policy.ReplicaScaling;
import java.time.Duration;

/**
 * The {@code prism.placement.*} settings of the placement singleton (documented with their
 * defaults in this module's {@code reference.conf}).
 *
 * @param policy {@code kvpr} (the paper's Algorithm 1 over live token rates) or {@code most-free}
 *     (most free memory; nothing ever migrates)
 * @param roundInterval how often a placement round runs ({@code 0}: only on events and {@code
 *     POST /admin/placement/rebalance})
 * @param tau absolute migration threshold of {@link KvprPlacement}, in KVPR units (1/s^2)
 * @param relativeTau relative migration threshold ({@link KvprPlacement#withRelativeThreshold})
 * @param limits churn bounds: cooldown per model, concurrent migrations per GPU, per round
 * @param loadTimeout how long a migration waits for its target to load and warm up before it is abandoned
 * @param drainTimeout how long the source keeps running a moved model's requests
 * @param recentMigrations finished migrations kept for {@code /admin/placement}
 * @param catalogTimeout how long a majority write or read of the replicated catalog may take
 * @param restoreGrace how long a new singleton waits for GPUs to report the models of the
 *     replicated catalog resident before it places the others
 * @param replicaCheckInterval how often models with {@code max_replicas > 1} are checked for
 *     overload and underload ({@code 0}: only with placement rounds)
 * @param replicas the thresholds of {@link ReplicaScaling}
 * @param tpotGuard rounds, reactivations and a leaving node's time-shared moves put a model only where every model of the GPU
 *     keeps its TPOT SLO beside the others, by the step times the GPUs report ({@link
 *     io.prism.runtime.policy.TpotColocation}, the simulator's Prism guard); models without a
 *     measured decode step yet are not guarded
 */
public record PlacementSettings(String policy, Duration roundInterval, double tau, double relativeTau, MigrationBudget.Limits limits,
    Duration loadTimeout, Duration drainTimeout, int recentMigrations, Duration catalogTimeout, Duration restoreGrace, Duration replicaCheckInterval,
    ReplicaScaling.Limits replicas, boolean tpotGuard) {

  /** Defaults for tests without a config: KVPR, no periodic rounds, default churn bounds. */
  public static final PlacementSettings DEFAULTS = new PlacementSettings("kvpr", Duration.ZERO, KvprPlacement.DEFAULT_TAU, 0.5,
      MigrationBudget.Limits.DEFAULT, Duration.ofMinutes(5), Duration.ofMinutes(10), 50, Duration.ofSeconds(3), Duration.ofMillis(1500), Duration.ZERO,
      ReplicaScaling.Limits.DEFAULT, true);

  public PlacementSettings {
    if (!policy.equals("kvpr") && !policy.equals("most-free")) {
      throw new IllegalArgumentException("prism.placement.policy must be 'kvpr' or 'most-free', got '" + policy + "'");
    }
    if (roundInterval.isNegative()) throw new IllegalArgumentException("prism.placement.round-interval must be >= 0, got " + roundInterval);
    if (!(tau >= 0) || Double.isInfinite(tau)) throw new IllegalArgumentException("prism.placement.tau must be finite and >= 0, got " + tau);
    if (!(relativeTau >= 0)) throw new IllegalArgumentException("prism.placement.relative-tau must be >= 0, got " + relativeTau);
    if (loadTimeout.isNegative() || loadTimeout.isZero()) throw new IllegalArgumentException("prism.placement.load-timeout must be > 0");
    if (drainTimeout.isNegative() || drainTimeout.isZero()) throw new IllegalArgumentException("prism.placement.drain-timeout must be > 0");
    if (catalogTimeout.isNegative() || catalogTimeout.isZero()) throw new IllegalArgumentException("prism.placement.catalog-timeout must be > 0");
    if (restoreGrace.isNegative()) throw new IllegalArgumentException("prism.placement.restore-grace must be >= 0");
    if (replicaCheckInterval.isNegative()) throw new IllegalArgumentException("prism.placement.replicas.check-interval must be >= 0");
  }

  /**
   * Reads {@code prism.placement} of {@code root}.
   *
   * @throws com.typesafe.config.ConfigException naming a missing or mistyped key
   * @throws IllegalArgumentException naming a key whose value is out of range
   */
  public static PlacementSettings from(Config root) {
    Config c = root.getConfig("prism.placement");
    return new PlacementSettings(c.getString("policy"), c.getDuration("round-interval"), c.getDouble("tau"), c.getDouble("relative-tau"),
        new MigrationBudget.Limits(c.getDuration("migration-cooldown"), c.getInt("max-migrations-per-gpu"), c.getInt("max-migrations-per-round")),
        c.getDuration("load-timeout"), c.getDuration("drain-timeout"), c.getInt("recent-migrations"), c.getDuration("catalog-timeout"),
        c.getDuration("restore-grace"), c.getDuration("replicas.check-interval"), replicaLimits(c.getConfig("replicas")),
        c.getBoolean("tpot-guard"));
  }

  private static ReplicaScaling.Limits replicaLimits(Config r) {
    try {
      return new ReplicaScaling.Limits(r.getInt("overload-queue"), r.getDouble("overload-kvpr"), r.getInt("overload-checks"), r.getInt("underload-queue"),
          r.getDouble("underload-kvpr"), r.getInt("underload-checks"));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("prism.placement.replicas: " + e.getMessage(), e);
    }
  }

  /** With other churn bounds. */
  public PlacementSettings withLimits(MigrationBudget.Limits l) {
    return new PlacementSettings(policy, roundInterval, tau, relativeTau, l, loadTimeout, drainTimeout, recentMigrations, catalogTimeout, restoreGrace, replicaCheckInterval,
        replicas, tpotGuard);
  }

  /** With another round interval. */
  public PlacementSettings withRoundInterval(Duration d) {
    return new PlacementSettings(policy, d, tau, relativeTau, limits, loadTimeout, drainTimeout, recentMigrations, catalogTimeout, restoreGrace, replicaCheckInterval,
        replicas, tpotGuard);
  }

  /** With other replica thresholds, checked every {@code interval} ({@code 0}: with rounds only). */
  public PlacementSettings withReplicas(ReplicaScaling.Limits r, Duration interval) {
    return new PlacementSettings(policy, roundInterval, tau, relativeTau, limits, loadTimeout, drainTimeout, recentMigrations, catalogTimeout, restoreGrace,
        interval, r, tpotGuard);
  }

  /** With the TPOT co-location guard on or off. */
  public PlacementSettings withTpotGuard(boolean on) {
    return new PlacementSettings(policy, roundInterval, tau, relativeTau, limits, loadTimeout, drainTimeout, recentMigrations, catalogTimeout, restoreGrace,
        replicaCheckInterval, replicas, on);
  }

  /** With other migration thresholds. */
  public PlacementSettings withTau(double absolute, double relative) {
    return new PlacementSettings(policy, roundInterval, absolute, relative, limits, loadTimeout, drainTimeout, recentMigrations, catalogTimeout, restoreGrace, replicaCheckInterval,
        replicas, tpotGuard);
  }
}
