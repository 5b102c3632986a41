package io.prism.runtime.policy;

import java.util.List;

/** Outcome of {@link ReclaimPolicy#plan}: a plan that covers the request, or a shortage. */
public sealed interface ReclaimPlan {
  /**
   * The request can be served.
   *
   * @param pagesFromFree pages taken from the pool's free (unheld, unreserved) pages
   * @param actions reclaim steps to run, in order, for the rest (empty when free pages suffice)
   * @param pagesReclaimed pages the actions yield together ({@code >=} the shortfall; eviction and
   *     preemption may yield more than needed)
   */
  record Granted(int pagesFromFree, List<ReclaimAction> actions, int pagesReclaimed) implements ReclaimPlan {
    public Granted {
      actions = List.copyOf(actions);
    }
  }

  /**
   * Not even every allowed step would free enough: do nothing (evicting or preempting others would
   * be pointless); the requester waits or is refused.
   *
   * @param pagesAvailable pages all allowed steps together could make available, free pages included
   * @param reason the breakdown, for the event log
   */
  record Insufficient(int pagesAvailable, String reason) implements ReclaimPlan {}
}
