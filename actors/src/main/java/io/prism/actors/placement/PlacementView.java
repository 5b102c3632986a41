package io.prism.actors.placement;

import io.prism.actors.GpuId;
import io.prism.actors.PrismMessage;
import java.util.List;
import java.util.Map;

/**
 * The placement singleton's view of the cluster ({@code GET /admin/placement}): per GPU its KVPR
 * and models with their live demand, the migrations in flight and the recent ones, and the
 * migration counters the metrics expose.
 *
 * @param gpus every reporting GPU, in {@link GpuId} order
 * @param inFlight migrations under way
 * @param recent finished migrations, newest last (bounded by {@code prism.placement.recent-migrations})
 * @param migrationsByOutcome migrations finished since this singleton started, by outcome ({@code done},
 *     {@code failed}, {@code abandoned}, {@code timed-out})
 * @param migrationSecondsSum seconds from decision to serving on the target, summed over done migrations
 * @param rounds placement rounds run
 * @param lastRound the last round's summary
 * @param replicaChanges instances added and removed by the replica policy, newest last (bounded
 *     like {@code recent})
 */
public record PlacementView(List<GpuRow> gpus, List<MigrationView> inFlight, List<MigrationView> recent, Map<String, Long> migrationsByOutcome,
    double migrationSecondsSum, long rounds, String lastRound, List<ReplicaChange> replicaChanges) implements PrismMessage {

  /** A view without replica changes. */
  public PlacementView(List<GpuRow> gpus, List<MigrationView> inFlight, List<MigrationView> recent, Map<String, Long> migrationsByOutcome,
      double migrationSecondsSum, long rounds, String lastRound) {
    this(gpus, inFlight, recent, migrationsByOutcome, migrationSecondsSum, rounds, lastRound, List.of());
  }

  /**
   * An instance of a model added or removed ({@link io.prism.runtime.policy.ReplicaScaling}).
   *
   * @param change {@code adding} (its GPU loads it), {@code added} (it serves), {@code removed} (its
   *     running requests finish there, new ones go to the other instances), {@code failed} (it did
   *     not load) or {@code lost} (its GPU or node went away)
   * @param epochMillis wall-clock time of the change
   * @param reason the policy's reason with its numbers
   */
  public record ReplicaChange(String modelId, GpuId gpu, String change, long epochMillis, String reason) implements PrismMessage {}

  /**
   * One GPU.
   *
   * @param kvpr its KV pressure ratio, sum over its models of token rate x KV bytes per token / TPOT
   *     SLO, over its free memory after weights (1/s^2; the paper's Algorithm 1)
   * @param budgetBytes its memory budget
   * @param freeBytes budget not used by weights or KV pages, as it last reported
   */
  public record GpuRow(GpuId gpu, String description, boolean healthy, double kvpr, long budgetBytes, long freeBytes, List<ModelRow> models)
      implements PrismMessage {}

  /**
   * One model on a GPU.
   *
   * @param tokensPerSecond tokens computed per second (60 s average)
   * @param weightsResident false: evicted to host memory (time-shared)
   * @param queued requests waiting; {@code running}: in its running batch
   * (A model with replicas has a row on each GPU that serves it.)
   */
  public record ModelRow(String modelId, double tokensPerSecond, long kvBytesPerToken, long weightBytes, boolean weightsResident, int queued,
      int running) implements PrismMessage {}

  /**
   * One migration.
   *
   * @param outcome {@code loading} while in flight; then {@code done}, {@code failed}, {@code abandoned} or {@code timed-out}
   * @param startedEpochMillis wall-clock time of the decision
   * @param seconds from the decision to serving on the target (or to the end, if it did not get there)
   * @param reason why it was made (the policy's reason, or {@code manual})
   * @param detail how it ended
   */
  public record MigrationView(String modelId, GpuId from, GpuId to, String outcome, long startedEpochMillis, double seconds, String reason,
      String detail) implements PrismMessage {}
}
