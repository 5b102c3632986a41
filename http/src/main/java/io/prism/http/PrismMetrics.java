package io.prism.http;

import io.prism.actors.gpu.GpuStatus;
import io.prism.runtime.engine.FinishReason;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The metrics of one Prism node for {@code GET /metrics} (Prometheus text format 0.0.4). Requests
 * served through this node's HTTP API are observed here, as the client sees them (TTFT includes
 * admission, a model's activation and queueing): {@code prism_time_to_first_token_seconds}, {@code
 * prism_time_per_output_token_seconds} (mean gap after the first token, per request), {@code
 * prism_e2e_request_latency_seconds} (histograms, label {@code model_name}) and {@code
 * prism_request_success_total} (labels {@code model_name}, {@code finished_reason}). The GPUs' memory
 * and scheduling metrics come from their statuses at scrape time ({@link GpuMetrics}).
 *
 * <p>Threading: thread-safe (the observations come from stream threads).
 */
public final class PrismMetrics {
  /** TTFT buckets in seconds (vLLM's, plus room for CPU models and activations). */
  static final double[] TTFT_BUCKETS = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0};
  /** TPOT buckets in seconds (vLLM's). */
  static final double[] TPOT_BUCKETS = {0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0};
  static final double[] E2E_BUCKETS = {0.1, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 300.0};

  private final PrometheusRegistry registry = new PrometheusRegistry();
  private final Histogram ttft = Histogram.builder().name("prism_time_to_first_token_seconds")
      .help("Time from a request's arrival at the HTTP API to its first token.").labelNames("model_name").classicOnly()
      .classicUpperBounds(TTFT_BUCKETS).register(registry);
  private final Histogram tpot = Histogram.builder().name("prism_time_per_output_token_seconds")
      .help("Mean time per output token after the first, per request.").labelNames("model_name").classicOnly()
      .classicUpperBounds(TPOT_BUCKETS).register(registry);
  private final Histogram e2e = Histogram.builder().name("prism_e2e_request_latency_seconds")
      .help("Time from a request's arrival to its last token.").labelNames("model_name").classicOnly()
      .classicUpperBounds(E2E_BUCKETS).register(registry);
  private final Counter success = Counter.builder().name("prism_request_success_total")
      .help("Requests that finished, by finish reason.").labelNames("model_name", "finished_reason").register(registry);

  /** Content type of {@link #render}. */
  public static final String CONTENT_TYPE = PrometheusTextFormatWriter.CONTENT_TYPE;

  /** A request's first token came {@code seconds} after it arrived. */
  public void firstToken(String model, double seconds) {
    ttft.labelValues(model).observe(seconds);
  }

  /**
   * A request ended.
   *
   * @param seconds since it arrived
   * @param tpotSeconds mean time per output token after the first, or NaN with fewer than 2 tokens
   */
  public void finished(String model, FinishReason reason, double seconds, double tpotSeconds) {
    e2e.labelValues(model).observe(seconds);
    if (!Double.isNaN(tpotSeconds)) tpot.labelValues(model).observe(tpotSeconds);
    success.labelValues(model, reason.name().toLowerCase()).inc();
  }

  /** This node's request metrics and the metrics of {@code gpus}, in the Prometheus text format. */
  public byte[] render(List<GpuStatus> gpus) {
    List<MetricSnapshot> all = new ArrayList<>();
    registry.scrape().forEach(all::add);
    all.addAll(GpuMetrics.snapshots(gpus));
    ByteArrayOutputStream out = new ByteArrayOutputStream(16 * 1024);
    try {
      PrometheusTextFormatWriter.create().write(out, new MetricSnapshots(all));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }
}
