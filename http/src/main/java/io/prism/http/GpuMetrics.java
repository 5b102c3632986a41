package io.prism.http;

import io.prism.actors.gpu.GpuStatus;
import io.prism.actors.gpu.ModelBooks;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.SummarySnapshot;
import java.util.ArrayList;
import java.util.List;
import java.util.function.ToDoubleFunction;

/**
 * Prometheus metrics of the cluster's GPUs, built at scrape time from their {@link GpuStatus}es
 * (names after vLLM's, prefixed {@code prism_}; label {@code gpu} is the GPU entity id, {@code
 * model_name} the model id). Per GPU: {@code prism_kv_pages_free}, {@code prism_kv_pages_reserve},
 * {@code prism_kv_pages_capacity}, {@code prism_gpu_weight_bytes}, {@code prism_gpu_requests_queued},
 * {@code prism_gpu_healthy}. Per model on a GPU: {@code prism_kv_pages_used} (in use by requests),
 * {@code prism_kv_pages_held} (used plus kept: empty and prefix-cached, reclaimable), {@code
 * prism_model_weights_resident} (1 resident, 0 evicted to host memory), {@code
 * prism_num_requests_waiting} (GPU deadline queue plus engine queue), {@code
 * prism_num_requests_running}, and the counters {@code prism_requests_admitted_total}, {@code
 * prism_requests_dropped_total} (rejected by deadline admission, 503), {@code
 * prism_requests_deferred_total}, {@code prism_model_activations_total}, {@code
 * prism_model_evictions_total}, {@code prism_kv_pages_reclaimed_total}, {@code
 * prism_num_preemptions_total}, and the summary {@code prism_model_activation_seconds} (count and
 * sum); the two activation metrics carry a {@code tier} label (host or disk). Counters restart from 0 when a model is loaded again.
 */
final class GpuMetrics {
  private GpuMetrics() {}

  /** Every GPU metric for {@code gpus}. */
  static List<MetricSnapshot> snapshots(List<GpuStatus> gpus) {
    List<MetricSnapshot> out = new ArrayList<>();
    out.add(gpuGauge(gpus, "prism_kv_pages_free", "Pages the GPU's pool can still hand out (reserve plus not yet created).", GpuStatus::freePages));
    out.add(gpuGauge(gpus, "prism_kv_pages_reserve", "Pre-created pages in the GPU's reserve.", GpuStatus::reservePages));
    out.add(gpuGauge(gpus, "prism_kv_pages_capacity", "Most pages that can exist beside the resident weights.", GpuStatus::capacityPages));
    out.add(gpuGauge(gpus, "prism_gpu_weight_bytes", "Bytes of resident weights on the GPU.", GpuStatus::weightBytes));
    out.add(gpuGauge(gpus, "prism_gpu_requests_queued", "Requests in the GPU's deadline queue.", GpuStatus::queued));
    out.add(gpuGauge(gpus, "prism_gpu_healthy", "1 while every engine on the GPU makes progress.", s -> s.healthy() ? 1 : 0));
    out.add(modelGauge(gpus, "prism_kv_pages_used", "KV pages in use by the model's requests.", GpuStatus.ModelStatus::pagesInUse));
    out.add(modelGauge(gpus, "prism_kv_pages_held", "KV pages the model holds (in use, empty or prefix-cached).", GpuStatus.ModelStatus::pagesHeld));
    out.add(modelGauge(gpus, "prism_model_weights_resident", "1 if the model's weights are on the GPU, 0 if evicted to host memory.",
        m -> m.resident() ? 1 : 0));
    out.add(modelGauge(gpus, "prism_num_requests_waiting", "Requests waiting: the GPU's deadline queue plus the engine's queue.",
        m -> m.books().queued() + m.waiting()));
    out.add(modelGauge(gpus, "prism_num_requests_running", "Requests in the model's running batch.", GpuStatus.ModelStatus::running));
    out.add(modelCounter(gpus, "prism_requests_admitted", "Requests local admission admitted.", m -> m.books().admitted()));
    out.add(modelCounter(gpus, "prism_requests_dropped", "Requests local admission rejected: they could not meet their TTFT SLO (503).",
        m -> m.books().dropped()));
    out.add(modelCounter(gpus, "prism_requests_deferred", "Requests local admission deferred at least once.", m -> m.books().deferred()));
    out.add(tierCounter(gpus));
    out.add(modelCounter(gpus, "prism_model_evictions", "Evictions of the weights to host memory.", m -> m.books().evictions()));
    out.add(modelCounter(gpus, "prism_kv_pages_reclaimed", "Pages taken from the model for other models.", m -> m.books().pagesReclaimed()));
    out.add(modelCounter(gpus, "prism_num_preemptions", "Sequences of the model preempted (recompute).", GpuStatus.ModelStatus::preemptions));
    SummarySnapshot.Builder activation = SummarySnapshot.builder().name("prism_model_activation_seconds")
        .help("Time from a request for an evicted model to its weights being back, reclaim (and, from disk, the file read) included, by the tier it came from.");
    for (GpuStatus g : gpus) {
      for (GpuStatus.ModelStatus m : g.models()) {
        GpuStatus.WeightTierStatus t = m.tiers();
        activation.dataPoint(SummarySnapshot.SummaryDataPointSnapshot.builder().labels(labels(g, m).add("tier", "host")).count(t.hostActivations())
            .sum(t.hostActivationNanos() / 1e9).build());
        activation.dataPoint(SummarySnapshot.SummaryDataPointSnapshot.builder().labels(labels(g, m).add("tier", "disk")).count(t.diskActivations())
            .sum(t.diskActivationNanos() / 1e9).build());
      }
    }
    out.add(activation.build());
    return out;
  }

  /** {@code prism_model_activations_total{tier}}: activations by the tier the weights came from (host or disk). */
  private static CounterSnapshot tierCounter(List<GpuStatus> gpus) {
    CounterSnapshot.Builder b = CounterSnapshot.builder().name("prism_model_activations")
        .help("Activations of evicted weights, by the tier they came from: host (host copy) or disk (the model file read again).");
    for (GpuStatus g : gpus) {
      for (GpuStatus.ModelStatus m : g.models()) {
        GpuStatus.WeightTierStatus t = m.tiers();
        b.dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder().labels(labels(g, m).add("tier", "host")).value(t.hostActivations()).build());
        b.dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder().labels(labels(g, m).add("tier", "disk")).value(t.diskActivations()).build());
      }
    }
    return b.build();
  }

  /** This node's host tier: used and limit bytes, copies held, drops asked. */
  static List<MetricSnapshot> hostTier(io.prism.runtime.memory.HostTier.Usage u) {
    return List.of(
        GaugeSnapshot.builder().name("prism_host_tier_used_bytes").help("Bytes of host copies of evicted weights this node holds.")
            .dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().value(u.usedBytes()).build()).build(),
        GaugeSnapshot.builder().name("prism_host_tier_limit_bytes").help("The node's bound on them (prism.node.host-tier-bytes).")
            .dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().value(u.limitBytes()).build()).build(),
        GaugeSnapshot.builder().name("prism_host_tier_copies").help("Host copies held (those being dropped included).")
            .dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().value(u.copies()).build()).build(),
        CounterSnapshot.builder().name("prism_host_tier_drops").help("Host copies the tier asked to drop (least recently used first).")
            .dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder().value(u.dropsAsked()).build()).build());
  }

  private static Labels labels(GpuStatus g) {
    return Labels.of("gpu", g.gpu().entityId());
  }

  private static Labels labels(GpuStatus g, GpuStatus.ModelStatus m) {
    return Labels.of("gpu", g.gpu().entityId(), "model_name", m.modelId());
  }

  private static GaugeSnapshot gpuGauge(List<GpuStatus> gpus, String name, String help, ToDoubleFunction<GpuStatus> value) {
    GaugeSnapshot.Builder b = GaugeSnapshot.builder().name(name).help(help);
    for (GpuStatus g : gpus) b.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(labels(g)).value(value.applyAsDouble(g)).build());
    return b.build();
  }

  private static GaugeSnapshot modelGauge(List<GpuStatus> gpus, String name, String help, ToDoubleFunction<GpuStatus.ModelStatus> value) {
    GaugeSnapshot.Builder b = GaugeSnapshot.builder().name(name).help(help);
    for (GpuStatus g : gpus) {
      for (GpuStatus.ModelStatus m : g.models()) {
        b.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(labels(g, m)).value(value.applyAsDouble(m)).build());
      }
    }
    return b.build();
  }

  private static CounterSnapshot modelCounter(List<GpuStatus> gpus, String name, String help, ToDoubleFunction<GpuStatus.ModelStatus> value) {
    CounterSnapshot.Builder b = CounterSnapshot.builder().name(name).help(help);
    for (GpuStatus g : gpus) {
      for (GpuStatus.ModelStatus m : g.models()) {
        b.dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder().labels(labels(g, m)).value(value.applyAsDouble(m)).build());
      }
    }
    return b.build();
  }
}
