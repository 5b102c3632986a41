package io.prism.http;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prism.actors.gpu.GpuEvent;
import io.prism.actors.gpu.GpuStatus;
import io.prism.actors.gpu.ModelBooks;
import java.time.Instant;
import java.util.List;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpResponse;

/**
 * The body of {@code GET /admin/gpus}: per GPU its pool (budget, capacity, free, reserve and held
 * pages, weight bytes), health and page-conservation check, the length of its deadline queue, and
 * its recent memory and admission decisions ({@code events}: reclaims, preemptions, evictions,
 * activations, rejections, oldest first); per model on it: weights resident or evicted, pages held
 * (in use and kept), page limits, SLOs, queues, the engine's counters and the GPU's admission and
 * time-sharing counters ({@code admission}, {@code time_sharing}).
 */
final class AdminJson {
  private AdminJson() {}

  static HttpResponse gpus(List<GpuStatus> list) {
    return gpus(list, null);
  }

  /** As {@link #gpus(List)}, with this node's host tier ({@code host_tier}: used and limit bytes, copies, drops; null: none). */
  static HttpResponse gpus(List<GpuStatus> list, io.prism.runtime.memory.HostTier.Usage hostTier) {
    ObjectNode root = Json.MAPPER.createObjectNode();
    root.put("object", "list");
    if (hostTier != null) {
      ObjectNode h = root.putObject("host_tier");
      h.put("used_bytes", hostTier.usedBytes());
      h.put("limit_bytes", hostTier.limitBytes());
      h.put("copies", hostTier.copies());
      h.put("dropping", hostTier.dropping());
      h.put("drops_asked", hostTier.dropsAsked());
      h.put("refused", hostTier.refused());
    }
    ArrayNode data = root.putArray("data");
    for (GpuStatus s : list) {
      ObjectNode g = data.addObject();
      g.put("id", s.gpu().entityId());
      g.put("node", s.gpu().host() + ":" + s.gpu().port());
      g.put("index", s.gpu().index());
      g.put("description", s.description());
      g.put("healthy", s.healthy());
      if (!s.problem().isEmpty()) g.put("problem", s.problem());
      g.put("budget_bytes", s.budgetBytes());
      g.put("page_bytes", s.pageBytes());
      g.put("capacity_pages", s.capacityPages());
      g.put("free_pages", s.freePages());
      g.put("reserve_pages", s.reservePages());
      g.put("held_pages", s.heldPages());
      g.put("weight_bytes", s.weightBytes());
      g.put("free_bytes", s.freeBytes());
      g.put("queued", s.queued());
      g.put("invariant_violation", s.invariantViolation());
      g.put("invariant_checks", s.invariantChecks());
      ArrayNode models = g.putArray("models");
      for (GpuStatus.ModelStatus m : s.models()) model(models.addObject(), m);
      ArrayNode events = g.putArray("events");
      for (GpuEvent e : s.events()) {
        ObjectNode eo = events.addObject();
        eo.put("time", Instant.ofEpochMilli(e.epochMillis()).toString());
        eo.put("kind", e.kind());
        eo.put("model", e.modelId());
        eo.put("detail", e.detail());
      }
    }
    return HttpResponse.create().withStatus(200).withEntity(ContentTypes.APPLICATION_JSON, Json.bytes(root));
  }

  private static void model(ObjectNode mo, GpuStatus.ModelStatus m) {
    mo.put("id", m.modelId());
    mo.put("resident", m.resident());
    mo.put("tier", m.tiers().tier());
    mo.put("weight_bytes", m.weightBytes());
    mo.put("pages_held", m.pagesHeld());
    mo.put("pages_in_use", m.pagesInUse());
    mo.put("pages_kept", m.pagesKept());
    mo.put("page_ids_held", m.pageIdsHeld());
    mo.put("min_pages", m.minPages());
    if (m.maxPages() == Integer.MAX_VALUE) mo.putNull("max_pages");
    else mo.put("max_pages", m.maxPages());
    mo.put("ttft_slo_ms", m.ttftSlo().toMillis());
    mo.put("tpot_slo_ms", m.tpotSlo().toMillis());
    mo.put("prefill_tokens_per_second", Math.round(m.prefillTokensPerSecond()));
    mo.put("decode_step_ms", m.decodeStepNanos() / 1e6); // what the placement's TPOT co-location guard sees
    mo.put("prefill_chunk_ms", m.prefillChunkNanos() / 1e6);
    ModelBooks b = m.books();
    mo.put("queued", b.queued());
    mo.put("waiting", m.waiting());
    mo.put("running", m.running());
    mo.put("progressing", m.progressing());
    mo.put("steps", m.steps());
    mo.put("finished", m.finished());
    mo.put("cancelled", m.cancelled());
    mo.put("failed", m.failed());
    mo.put("preemptions", m.preemptions());
    ObjectNode adm = mo.putObject("admission");
    adm.put("admitted", b.admitted());
    adm.put("dropped", b.dropped());
    adm.put("deferred", b.deferred());
    ObjectNode ts = mo.putObject("time_sharing");
    ts.put("evictions", b.evictions());
    ts.put("activations", b.activations());
    ts.put("activation_seconds_total", b.activationNanosTotal() / 1e9);
    ts.put("last_activation_seconds", b.lastActivationNanos() / 1e9);
    GpuStatus.WeightTierStatus t = m.tiers();
    ts.put("host_copy_bytes", t.hostCopyBytes());
    ts.put("activations_from_host", t.hostActivations());
    ts.put("activation_seconds_from_host", t.hostActivationNanos() / 1e9);
    ts.put("activations_from_disk", t.diskActivations());
    ts.put("activation_seconds_from_disk", t.diskActivationNanos() / 1e9);
    ts.put("pages_reclaimed", b.pagesReclaimed());
    ts.put("preempted_for_others", b.preempted());
  }
}
