package io.prism.runtime.policy;

import java.util.ArrayList;
import java.util.List;

/**
 * Whether a set of models can share one GPU without one of them missing its TPOT SLO by the mere
 * fact of sharing: the guard that keeps Prism's relocation and activation from trading away a TPOT
 * that a baseline which never moves would keep (issue 11). Pure and thread-safe; times in
 * nanoseconds.
 *
 * <p>The models of a GPU share one execution stream (Prism's engines take turns on the device; the
 * simulator's decode round steps every model), so between two tokens of a running sequence come
 * one decode step of every co-located model that is decoding and, when a prompt is waiting, one
 * prefill chunk of some model. KVPR placement (the paper's Algorithm 1) weighs only KV memory
 * pressure; it can put a model with a tight TPOT SLO beside one whose prefill chunk alone takes
 * most of that SLO (the simulator found an 8B model with a 45 ms TPOT SLO moved beside a 14B
 * model whose 512-token chunk takes 43 ms: 14% of its requests missed TPOT, none on the GPU it
 * came from). The worst gap of a model sharing the GPU is estimated as
 * <pre>
 *   gap = sum over the models of decodeStep  +  max over the models of prefillChunk
 * </pre>
 * and the set fits iff {@code gap <= tpotSlo} for every model of it. A model alone always fits (its
 * own SLO was measured alone).
 */
public final class TpotColocation {
  /**
   * One model as the guard sees it.
   *
   * @param modelId the model
   * @param tpotSloNanos its TPOT SLO, {@code > 0}
   * @param decodeStepNanos its decode step at its usual batch (weights read plus KV read), {@code >= 0}
   * @param prefillChunkNanos one full prefill chunk of it, {@code >= 0}
   */
  public record Member(String modelId, long tpotSloNanos, long decodeStepNanos, long prefillChunkNanos) {
    public Member {
      if (tpotSloNanos <= 0 || decodeStepNanos < 0 || prefillChunkNanos < 0) {
        throw new IllegalArgumentException("model " + modelId + ": TPOT SLO must be > 0 and step times >= 0, got " + tpotSloNanos + ", "
            + decodeStepNanos + ", " + prefillChunkNanos);
      }
    }
  }

  private TpotColocation() {}

  /** The estimated worst gap between two tokens of a model sharing the GPU with {@code members} (all of them, itself included). */
  public static long worstGapNanos(List<Member> members) {
    long round = 0;
    long chunk = 0;
    for (Member m : members) {
      round += m.decodeStepNanos();
      chunk = Math.max(chunk, m.prefillChunkNanos());
    }
    return round + chunk;
  }

  /** Whether every model of {@code members} keeps its TPOT SLO beside the others (true for zero or one model). */
  public static boolean fits(List<Member> members) {
    if (members.size() <= 1) return true;
    long gap = worstGapNanos(members);
    for (Member m : members) if (gap > m.tpotSloNanos()) return false;
    return true;
  }

  /** Whether {@code joining} may join a GPU that holds {@code resident}: the set with it {@link #fits}. */
  public static boolean admits(List<Member> resident, Member joining) {
    List<Member> with = new ArrayList<>(resident);
    with.add(joining);
    return fits(with);
  }
}
