package io.prism.http;

import io.prism.actors.gpu.GpuStatus;
import io.prism.runtime.engine.FinishReason;
import io.prism.runtime.engine.Rejection;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
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
 * prism_request_success_total} (labels {@code model_name}, {@code finished_reason}: {@code stop} or
 * {@code length}). The GPUs' memory and scheduling metrics come from their statuses at scrape time
 * ({@link GpuMetrics}).
 *
 * <p>SLO attainment: every request end is also recorded in this node's {@link SloWindow} (with its
 * TTFT and TPOT), and {@link #render} adds, per model with ends in the window and a known SLO (from
 * the GPU statuses), the gauges {@code prism_slo_attainment{model_name,slo}} ({@code slo}: {@code
 * ttft}, {@code tpot} or {@code both}: the fraction meeting it over {@code
 * prism.http.dashboard.slo-window}) and {@code prism_slo_window_requests{model_name}} (requests
 * judged in the window).
 *
 * <p>Every request that reaches the completion endpoints ends in exactly one of four counters, as
 * the HTTP layer sees its outcome (the routes make sure of "exactly one"; this class only counts):
 * <ul>
 *   <li>{@code prism_request_success_total{model_name,finished_reason}}: a complete answer;
 *   <li>{@code prism_requests_rejected_total{model_name,reason}}: refused before it started; {@code
 *       reason} is the {@link Rejection.Kind} in lower case ({@code overloaded} = 429, {@code
 *       slo_unattainable}, {@code context_length_exceeded}, {@code invalid_request}, {@code
 *       unavailable}, {@code model_not_found}, {@code internal}) or {@code too_many_connections}
 *       (a connection over {@code prism.http.max-connections}, no model);
 *   <li>{@code prism_request_failure_total{model_name,reason}}: started but ended in an error:
 *       {@code engine_error} (the model failed it), {@code event_timeout} (no event for {@code
 *       prism.http.event-idle-timeout} before the answer started), {@code stream_error} (a stream
 *       broke off after it started: event timeout or buffer overflow), {@code internal};
 *   <li>{@code prism_requests_cancelled_total{model_name}}: the client went away (disconnect, or
 *       {@code prism.http.request-timeout} before the answer started) or the request was cancelled.
 * </ul>
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
      .help("Requests that finished with a complete answer, by finish reason.").labelNames("model_name", "finished_reason").register(registry);
  private final Counter rejected = Counter.builder().name("prism_requests_rejected_total")
      .help("Requests refused before they started, by reason (the rejection kind; overloaded = HTTP 429).")
      .labelNames("model_name", "reason").register(registry);
  private final Counter failure = Counter.builder().name("prism_request_failure_total")
      .help("Requests that started and then ended in an error, by reason.").labelNames("model_name", "reason").register(registry);
  private final Counter cancelled = Counter.builder().name("prism_requests_cancelled_total")
      .help("Requests cancelled because their client went away or their request timeout fired.").labelNames("model_name").register(registry);

  private final SloWindow sloWindow;

  /** Metrics with an SLO window of {@link SloWindow#DEFAULT_WINDOW} on the wall clock. */
  public PrismMetrics() {
    this(new SloWindow());
  }

  /** Metrics recording request ends into {@code sloWindow}. */
  public PrismMetrics(SloWindow sloWindow) {
    this.sloWindow = sloWindow;
  }

  /** The recent request ends, for SLO attainment. */
  public SloWindow sloWindow() {
    return sloWindow;
  }

  /** Content type of {@link #render}. */
  public static final String CONTENT_TYPE = PrometheusTextFormatWriter.CONTENT_TYPE;

  /** A request's first token came {@code seconds} after it arrived. */
  public void firstToken(String model, double seconds) {
    ttft.labelValues(model).observe(seconds);
  }

  /**
   * A request ended with a complete answer.
   *
   * @param reason {@code STOP} or {@code LENGTH}
   * @param seconds since it arrived
   * @param tpotSeconds mean time per output token after the first, or NaN with fewer than 2 tokens
   * @throws IllegalArgumentException if {@code reason} is not a success
   */
  public void succeeded(String model, FinishReason reason, double seconds, double tpotSeconds) {
    succeeded(model, reason, seconds, Double.NaN, tpotSeconds);
  }

  /**
   * As {@link #succeeded(String, FinishReason, double, double)}, recording the request in the SLO
   * window with its time to first token {@code ttftSeconds} (NaN: no token).
   */
  public void succeeded(String model, FinishReason reason, double seconds, double ttftSeconds, double tpotSeconds) {
    if (reason != FinishReason.STOP && reason != FinishReason.LENGTH) throw new IllegalArgumentException("not a success: " + reason);
    e2e.labelValues(model).observe(seconds);
    if (!Double.isNaN(tpotSeconds)) tpot.labelValues(model).observe(tpotSeconds);
    success.labelValues(model, reason.openAiValue()).inc();
    sloWindow.served(model, Double.isNaN(ttftSeconds) ? -1 : Math.round(ttftSeconds * 1e9), Double.isNaN(tpotSeconds) ? -1 : Math.round(tpotSeconds * 1e9));
  }

  /** A request was refused before it started ({@code reason}: the rejection kind in lower case). */
  public void rejected(String model, Rejection.Kind kind) {
    rejected(model, reasonOf(kind));
    sloWindow.refused(model, kind);
  }

  /** A request was refused before it started, for a reason that is no {@link Rejection.Kind} (e.g. {@code too_many_connections}). */
  public void rejected(String model, String reason) {
    rejected.labelValues(model, reason).inc();
  }

  /** A request started and then failed ({@code reason}: {@code engine_error}, {@code event_timeout}, {@code stream_error}, {@code internal}). */
  public void failed(String model, String reason) {
    failure.labelValues(model, reason).inc();
    sloWindow.failed(model);
  }

  /** A request was cancelled (its client went away or its request timeout fired). */
  public void cancelled(String model) {
    cancelled.labelValues(model).inc();
    sloWindow.cancelled(model);
  }

  /** {@code prism_slo_attainment} and {@code prism_slo_window_requests} of the models in the window whose SLO a GPU reports. */
  private List<MetricSnapshot> sloSnapshots(List<GpuStatus> gpus) {
    GaugeSnapshot.Builder fraction = GaugeSnapshot.builder().name("prism_slo_attainment")
        .help("Fraction of the model's requests ended in the SLO window (prism.http.dashboard.slo-window) that met its TTFT SLO, TPOT SLO, or both.");
    GaugeSnapshot.Builder count = GaugeSnapshot.builder().name("prism_slo_window_requests")
        .help("Requests of the model judged in the SLO window: served, refused for capacity, failed (not cancelled).");
    for (String model : sloWindow.models()) {
      GpuStatus.ModelStatus m = DashboardJson.statusOf(gpus, model);
      if (m == null) continue;
      SloWindow.Attainment a = sloWindow.attainment(model, m.ttftSlo(), m.tpotSlo());
      count.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(Labels.of("model_name", model)).value(a.requests()).build());
      if (a.requests() == 0) continue;
      fraction.dataPoint(point(model, "ttft", a.ttftFraction()));
      fraction.dataPoint(point(model, "tpot", a.tpotFraction()));
      fraction.dataPoint(point(model, "both", a.bothFraction()));
    }
    return List.of(fraction.build(), count.build());
  }

  private static GaugeSnapshot.GaugeDataPointSnapshot point(String model, String slo, double value) {
    return GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(Labels.of("model_name", model, "slo", slo)).value(value).build();
  }

  /** The {@code reason} label of a rejection kind: its name in lower case, e.g. {@code overloaded}. */
  public static String reasonOf(Rejection.Kind kind) {
    return kind.name().toLowerCase(java.util.Locale.ROOT);
  }

  /** This node's request metrics and the metrics of {@code gpus}, in the Prometheus text format. */
  public byte[] render(List<GpuStatus> gpus) {
    return render(gpus, null);
  }

  /** As {@link #render(List)}, with the placement's migration and KVPR metrics ({@code placement} null: none). */
  public byte[] render(List<GpuStatus> gpus, io.prism.actors.placement.PlacementView placement) {
    return render(gpus, placement, null);
  }

  /**
   * As {@link #render(List, io.prism.actors.placement.PlacementView)}, with this node's host tier
   * ({@code null}: none): gauges {@code prism_host_tier_used_bytes}, {@code
   * prism_host_tier_limit_bytes}, {@code prism_host_tier_copies} and the counter {@code
   * prism_host_tier_drops_total} (copies the tier asked to drop, least recently used first).
   */
  public byte[] render(List<GpuStatus> gpus, io.prism.actors.placement.PlacementView placement, io.prism.runtime.memory.HostTier.Usage hostTier) {
    List<MetricSnapshot> all = new ArrayList<>();
    registry.scrape().forEach(all::add);
    all.addAll(GpuMetrics.snapshots(gpus));
    if (hostTier != null) all.addAll(GpuMetrics.hostTier(hostTier));
    all.addAll(PlacementMetrics.snapshots(placement));
    all.addAll(sloSnapshots(gpus));
    ByteArrayOutputStream out = new ByteArrayOutputStream(16 * 1024);
    try {
      PrometheusTextFormatWriter.create().write(out, new MetricSnapshots(all));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }
}
