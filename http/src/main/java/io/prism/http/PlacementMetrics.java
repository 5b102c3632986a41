package io.prism.http;

import io.prism.actors.placement.PlacementView;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.SummarySnapshot;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The placement singleton's metrics, from its {@link PlacementView}: {@code
 * prism_model_migrations_total{outcome}} (done, failed, abandoned, timed-out), {@code
 * prism_model_migration_seconds} (a summary of the time from decision to serving on the target, over
 * done migrations) and {@code prism_gpu_kvpr{gpu}} (each GPU's KV pressure ratio, 1/s^2).
 */
final class PlacementMetrics {
  private PlacementMetrics() {}

  static List<MetricSnapshot> snapshots(PlacementView v) {
    List<MetricSnapshot> out = new ArrayList<>();
    if (v == null) return out;
    CounterSnapshot.Builder migrations = CounterSnapshot.builder().name("prism_model_migrations")
        .help("Live model migrations finished since the placement singleton started, by outcome");
    for (Map.Entry<String, Long> e : v.migrationsByOutcome().entrySet()) {
      migrations.dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder().labels(Labels.of("outcome", e.getKey())).value(e.getValue()).build());
    }
    out.add(migrations.build());
    long done = v.migrationsByOutcome().getOrDefault("done", 0L);
    out.add(SummarySnapshot.builder().name("prism_model_migration_seconds")
        .help("Seconds from a migration's decision to its model serving on the target GPU (done migrations)")
        .dataPoint(SummarySnapshot.SummaryDataPointSnapshot.builder().count(done).sum(v.migrationSecondsSum()).build()).build());
    GaugeSnapshot.Builder kvpr = GaugeSnapshot.builder().name("prism_gpu_kvpr").help("KV pressure ratio of each GPU (1/s^2), as placement computes it");
    for (PlacementView.GpuRow g : v.gpus()) {
      kvpr.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(Labels.of("gpu", g.gpu().entityId())).value(g.kvpr()).build());
    }
    out.add(kvpr.build());
    return out;
  }
}
