package io.prism.actors.gpu;

import io.prism.actors.PrismMessage;

/**
 * One memory or admission decision on a GPU, kept in its recent-events list ({@code GET
 * /admin/gpus}) and logged. Kinds are the constants below.
 *
 * @param epochMillis when it was decided (wall clock)
 * @param kind what happened, one of the constants of this record
 * @param modelId the model it concerns (the one that gave memory up, was evicted, activated, ...),
 *     empty when it concerns the whole GPU
 * @param detail a sentence: which model it served, how many pages, why
 */
public record GpuEvent(long epochMillis, String kind, String modelId, String detail) implements PrismMessage {
  /** Pages taken from a model (reserve, empty pages, cached blocks, preemption) for another one. */
  public static final String RECLAIMED = "reclaimed";
  /** A reclaim plan step found less than planned (the model changed meanwhile) or failed. */
  public static final String RECLAIM_SHORT = "reclaim-short";
  /** No plan could free enough; the requester waits. */
  public static final String RECLAIM_REFUSED = "reclaim-refused";
  /** A negotiation did not finish (an actor died in the middle); the requester asks again. */
  public static final String RECLAIM_ABANDONED = "reclaim-abandoned";
  /** A running sequence was preempted (recompute later) to give its pages to another model. */
  public static final String PREEMPTED = "preempted";
  /** A model's weights went to host memory (idle, or reclaimed for another model). */
  public static final String EVICTED = "evicted";
  /** An evicted model's weights came back for a request. */
  public static final String ACTIVATED = "activated";
  /** Local admission rejected a request that cannot meet its TTFT deadline (503). */
  public static final String REJECTED = "admission-rejected";
  /** A model's SLO or page limits changed. */
  public static final String LIMITS = "limits";
  /** The page pool actor stopped and was started again over the same pool. */
  public static final String POOL_RESTARTED = "pool-restarted";
  /** A model actor failed and was restarted (its requests failed, its pages went back). */
  public static final String MODEL_RESTARTED = "model-restarted";
  /** Kind: the model moved to another GPU (live migration): its requests are redirected, its running ones drain, then it unloads. */
  public static final String HANDED_OFF = "handed-off";
}
