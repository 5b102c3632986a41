package io.prism.http;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prism.actors.gpu.GpuEvent;
import io.prism.actors.gpu.GpuStatus;
import io.prism.actors.placement.ModelInfo;
import io.prism.actors.placement.PlacementView;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * The body of {@code GET /admin/dashboard}: one compact document with everything the live page
 * ({@code GET /dashboard}) draws, so it polls a single endpoint.
 *
 * <pre>
 * {"object": "dashboard", "time_ms": wall clock, "gpus_age_ms": age of the GPU statuses,
 *  "slo_window_seconds": 60,
 *  "gpus": [{"id", "description", "node", "healthy", "problem", "kvpr" (null: no placement view),
 *            "budget_bytes", "page_bytes", "capacity_pages", "free_pages", "reserve_pages", "held_pages",
 *            "weight_bytes", "queued", "invariant_violation",
 *            "memory": [{"kind": "weights"|"kv"|"reserve"|"free", "model" (weights, kv), "bytes", "pages"}],
 *            "models": [{"id", "resident", "tier", "weight_bytes", "pages_held", "pages_in_use", "pages_kept",
 *                        "queued", "waiting", "running", "tokens_per_second"}]}],
 *  "slo": [{"model", "ttft_slo_ms", "tpot_slo_ms" (null: unknown), "requests", "ttft_met", "tpot_met", "both_met",
 *           "refused", "failed", "cancelled", "ttft_attainment", "tpot_attainment", "attainment" (null: no requests),
 *           "p95_ttft_ms", "p95_tpot_ms" (null: none)}],
 *  "totals": {the same counts and fractions over every model with a known SLO},
 *  "events": [{"time_ms", "time", "source": "gpu"|"placement", "gpu", "kind", "model", "detail"}]}  newest first
 * </pre>
 *
 * <p>The memory map of a GPU ({@code memory}) splits its budget, in this order, into: each resident
 * model's weights (a {@code weights} segment without a model for weights the GPU holds beyond its
 * resident models', e.g. a model loading), each model's KV pages ({@code pages_held} x {@code
 * page_bytes}), the pool's reserve of pre-created pages, and {@code free}: budget not mapped
 * (its {@code pages} are the pages that could still be created; the bytes include the sub-page rest).
 * The segments' bytes add up to {@code budget_bytes} whenever the status is consistent (weights plus
 * mapped pages within the budget, the pool's invariant); numbers are those of {@code GET
 * /admin/gpus} ({@link AdminJson}): {@code queued} is a model's requests in the GPU's deadline queue,
 * {@code waiting} those admitted and not yet running, {@code running} its batch.
 *
 * <p>Events merge each GPU's recent decisions ({@link GpuEvent}: evictions, activations, reclaims,
 * rejections ...) with the placement's migrations (in flight: kind {@code migration-loading} at their
 * start; finished: {@code migration-<outcome>} at their end) and replica changes ({@code
 * replica-<change>}), newest first, at most {@code maxEvents}.
 *
 * <p>SLO attainment is this node's ({@link SloWindow}: the requests that came through its HTTP API),
 * judged against each model's SLO from the catalog, or from a GPU status when the catalog did not answer.
 */
final class DashboardJson {
  /** Default most events in one answer. */
  static final int MAX_EVENTS = 50;

  private DashboardJson() {}

  /**
   * The dashboard document.
   *
   * @param gpus every GPU's status
   * @param gpusAge how old {@code gpus} is
   * @param placement the placement singleton's view, or null if it did not answer
   * @param catalog the model catalog, or null if it did not answer
   * @param window this node's recent request ends
   * @param nowMillis the wall clock
   * @param maxEvents most events listed
   */
  static ObjectNode dashboard(List<GpuStatus> gpus, Duration gpusAge, PlacementView placement, List<ModelInfo> catalog, SloWindow window,
      long nowMillis, int maxEvents) {
    ObjectNode root = Json.MAPPER.createObjectNode();
    root.put("object", "dashboard");
    root.put("time_ms", nowMillis);
    root.put("gpus_age_ms", gpusAge.toMillis());
    root.put("slo_window_seconds", window.window().toMillis() / 1000.0);
    ArrayNode gpuArray = root.putArray("gpus");
    for (GpuStatus g : gpus) gpu(gpuArray.addObject(), g, placementRow(placement, g));
    slo(root, gpus, catalog, window);
    events(root.putArray("events"), gpus, placement, maxEvents);
    return root;
  }

  /** The status of {@code model} on the first GPU that lists it, or null. */
  static GpuStatus.ModelStatus statusOf(List<GpuStatus> gpus, String model) {
    for (GpuStatus g : gpus) {
      GpuStatus.ModelStatus m = g.model(model);
      if (m != null) return m;
    }
    return null;
  }

  private static PlacementView.GpuRow placementRow(PlacementView placement, GpuStatus g) {
    if (placement == null) return null;
    for (PlacementView.GpuRow r : placement.gpus()) if (r.gpu().equals(g.gpu())) return r;
    return null;
  }

  private static void gpu(ObjectNode o, GpuStatus s, PlacementView.GpuRow row) {
    o.put("id", s.gpu().entityId());
    o.put("description", s.description());
    o.put("node", s.gpu().host() + ":" + s.gpu().port());
    o.put("healthy", s.healthy());
    o.put("problem", s.problem());
    if (row == null) o.putNull("kvpr");
    else o.put("kvpr", row.kvpr());
    o.put("budget_bytes", s.budgetBytes());
    o.put("page_bytes", s.pageBytes());
    o.put("capacity_pages", s.capacityPages());
    o.put("free_pages", s.freePages());
    o.put("reserve_pages", s.reservePages());
    o.put("held_pages", s.heldPages());
    o.put("weight_bytes", s.weightBytes());
    o.put("queued", s.queued());
    o.put("invariant_violation", s.invariantViolation());
    memory(o.putArray("memory"), s);
    ArrayNode models = o.putArray("models");
    for (GpuStatus.ModelStatus m : s.models()) {
      ObjectNode mo = models.addObject();
      mo.put("id", m.modelId());
      mo.put("resident", m.resident());
      mo.put("tier", m.tiers().tier());
      mo.put("weight_bytes", m.weightBytes());
      mo.put("pages_held", m.pagesHeld());
      mo.put("pages_in_use", m.pagesInUse());
      mo.put("pages_kept", m.pagesKept());
      mo.put("queued", m.books().queued());
      mo.put("waiting", m.waiting());
      mo.put("running", m.running());
      PlacementView.ModelRow pr = row == null ? null : row.models().stream().filter(r -> r.modelId().equals(m.modelId())).findFirst().orElse(null);
      if (pr == null) mo.putNull("tokens_per_second");
      else mo.put("tokens_per_second", pr.tokensPerSecond());
    }
  }

  /** The memory map: weights per resident model (and any other), KV pages per model, reserve, free. */
  static void memory(ArrayNode out, GpuStatus s) {
    long residentWeights = 0;
    for (GpuStatus.ModelStatus m : s.models()) {
      if (!m.resident() || m.weightBytes() == 0) continue;
      residentWeights += m.weightBytes();
      segment(out, "weights", m.modelId(), m.weightBytes(), -1);
    }
    if (s.weightBytes() > residentWeights) segment(out, "weights", null, s.weightBytes() - residentWeights, -1);
    for (GpuStatus.ModelStatus m : s.models()) {
      if (m.pagesHeld() > 0) segment(out, "kv", m.modelId(), (long) m.pagesHeld() * s.pageBytes(), m.pagesHeld());
    }
    segment(out, "reserve", null, (long) s.reservePages() * s.pageBytes(), s.reservePages());
    long mapped = Math.max(s.weightBytes(), residentWeights) + (long) (s.heldPages() + s.reservePages()) * s.pageBytes();
    segment(out, "free", null, Math.max(0, s.budgetBytes() - mapped), Math.max(0, s.freePages() - s.reservePages()));
  }

  private static void segment(ArrayNode out, String kind, String model, long bytes, int pages) {
    ObjectNode o = out.addObject();
    o.put("kind", kind);
    if (model != null) o.put("model", model);
    o.put("bytes", bytes);
    if (pages >= 0) o.put("pages", pages);
  }

  private record Slo(Duration ttft, Duration tpot) {}

  private static void slo(ObjectNode root, List<GpuStatus> gpus, List<ModelInfo> catalog, SloWindow window) {
    Map<String, Slo> slos = new LinkedHashMap<>();
    for (GpuStatus g : gpus) for (GpuStatus.ModelStatus m : g.models()) slos.putIfAbsent(m.modelId(), new Slo(m.ttftSlo(), m.tpotSlo()));
    if (catalog != null) for (ModelInfo i : catalog) slos.put(i.id(), new Slo(i.spec().ttftSlo(), i.spec().tpotSlo()));
    TreeSet<String> models = new TreeSet<>(slos.keySet());
    models.addAll(window.models());
    ArrayNode out = root.putArray("slo");
    SloWindow.Attainment total = SloWindow.Attainment.EMPTY;
    for (String model : models) {
      ObjectNode o = out.addObject();
      o.put("model", model);
      Slo slo = slos.get(model);
      if (slo == null) {
        o.putNull("ttft_slo_ms");
        o.putNull("tpot_slo_ms");
        counts(o, SloWindow.Attainment.EMPTY);
        continue;
      }
      o.put("ttft_slo_ms", slo.ttft().toMillis());
      o.put("tpot_slo_ms", slo.tpot().toMillis());
      SloWindow.Attainment a = window.attainment(model, slo.ttft(), slo.tpot());
      counts(o, a);
      total = total.plus(a);
    }
    counts(root.putObject("totals"), total);
  }

  private static void counts(ObjectNode o, SloWindow.Attainment a) {
    o.put("requests", a.requests());
    o.put("ttft_met", a.ttftMet());
    o.put("tpot_met", a.tpotMet());
    o.put("both_met", a.bothMet());
    o.put("refused", a.refused());
    o.put("failed", a.failed());
    o.put("cancelled", a.cancelled());
    fraction(o, "ttft_attainment", a.ttftFraction());
    fraction(o, "tpot_attainment", a.tpotFraction());
    fraction(o, "attainment", a.bothFraction());
    millis(o, "p95_ttft_ms", a.p95TtftNanos());
    millis(o, "p95_tpot_ms", a.p95TpotNanos());
  }

  private static void fraction(ObjectNode o, String field, double v) {
    if (Double.isNaN(v)) o.putNull(field);
    else o.put(field, v);
  }

  private static void millis(ObjectNode o, String field, long nanos) {
    if (nanos < 0) o.putNull(field);
    else o.put(field, nanos / 1e6);
  }

  private record Event(long timeMillis, String source, String gpu, String kind, String model, String detail) {}

  private static void events(ArrayNode out, List<GpuStatus> gpus, PlacementView placement, int maxEvents) {
    List<Event> all = new ArrayList<>();
    for (GpuStatus g : gpus) {
      for (GpuEvent e : g.events()) all.add(new Event(e.epochMillis(), "gpu", g.gpu().entityId(), e.kind(), e.modelId(), e.detail()));
    }
    if (placement != null) {
      for (PlacementView.MigrationView m : placement.inFlight()) {
        all.add(new Event(m.startedEpochMillis(), "placement", m.to().entityId(), "migration-loading", m.modelId(),
            m.from().entityId() + " -> " + m.to().entityId() + ": " + m.reason()));
      }
      for (PlacementView.MigrationView m : placement.recent()) {
        all.add(new Event(m.startedEpochMillis() + Math.round(m.seconds() * 1000), "placement", m.to().entityId(), "migration-" + m.outcome(),
            m.modelId(), m.from().entityId() + " -> " + m.to().entityId() + " in " + String.format(java.util.Locale.ROOT, "%.2f", m.seconds())
                + " s: " + m.reason() + (m.detail().isEmpty() ? "" : " (" + m.detail() + ")")));
      }
      for (PlacementView.ReplicaChange c : placement.replicaChanges()) {
        all.add(new Event(c.epochMillis(), "placement", c.gpu().entityId(), "replica-" + c.change(), c.modelId(), c.reason()));
      }
    }
    all.sort(Comparator.comparingLong(Event::timeMillis).reversed());
    for (Event e : all.subList(0, Math.min(maxEvents, all.size()))) {
      ObjectNode o = out.addObject();
      o.put("time_ms", e.timeMillis());
      o.put("time", Instant.ofEpochMilli(e.timeMillis()).toString());
      o.put("source", e.source());
      o.put("gpu", e.gpu());
      o.put("kind", e.kind());
      o.put("model", e.model());
      o.put("detail", e.detail());
    }
  }
}
