package io.prism.runtime.policy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Which running decode sequences to preempt under memory pressure (issue 5: "decode preemption only
 * under memory pressure, chosen by SLO slack"). A preempted sequence gives back all its KV pages and
 * is recomputed later (vLLM-style recompute preemption), so the victim should be the sequence that
 * can best afford the delay: the one with the most slack before it breaks its TPOT SLO.
 *
 * <p>Rules:
 * <ul>
 *   <li>Only sequences of models whose SLO is not stricter than the requester's are eligible
 *       ({@link Slo#isStricterThan}): a stricter model is never preempted to serve a looser one.
 *   <li>Order: most slack first, then most pages (fewer preemptions), then model id, then sequence id.
 *   <li>Take victims in that order until their pages cover the need.
 * </ul>
 *
 * <p>Pure and thread-safe.
 */
public final class DecodePreemptionPolicy {
  /** A running sequence that might be preempted. */
  public record Candidate(String modelId, Slo modelSlo, String sequenceId, int pages, long slackNanos) {
    public Candidate {
      if (pages < 0) throw new IllegalArgumentException("pages of " + sequenceId + " must be >= 0, got " + pages);
    }
  }

  /**
   * Victims chosen for one request.
   *
   * @param victims sequences to preempt, in order
   * @param pagesFreed their pages together
   * @param sufficient true iff {@code pagesFreed >= pagesNeeded}; when false, {@code victims} lists
   *     every eligible sequence and preempting them would still not be enough
   */
  public record Choice(List<Candidate> victims, int pagesFreed, boolean sufficient) {
    public Choice {
      victims = List.copyOf(victims);
    }
  }

  /** The victim order: slack descending, pages descending, model id, sequence id. */
  public static final Comparator<Candidate> VICTIM_ORDER = Comparator.comparingLong(Candidate::slackNanos).reversed()
      .thenComparing(Comparator.comparingInt(Candidate::pages).reversed())
      .thenComparing(Candidate::modelId).thenComparing(Candidate::sequenceId);

  private DecodePreemptionPolicy() {}

  /** True iff {@code candidate} may be preempted for a requester with {@code requesterSlo}. */
  public static boolean eligible(Slo requesterSlo, Candidate candidate) {
    return !candidate.modelSlo().isStricterThan(requesterSlo);
  }

  /**
   * Chooses victims freeing at least {@code pagesNeeded} pages.
   *
   * @throws IllegalArgumentException if {@code pagesNeeded <= 0}
   */
  public static Choice choose(Slo requesterSlo, List<Candidate> running, int pagesNeeded) {
    return choose(requesterSlo, running, pagesNeeded, Map.of());
  }

  /**
   * Chooses victims freeing at least {@code pagesNeeded} pages, taking from each model at most its
   * {@code headroom} (pages it can give without going below its guaranteed minimum; a model absent
   * from the map has no limit). {@link ReclaimPolicy}'s last step.
   *
   * @param headroom pages per model id that preemption may take, at most
   * @throws IllegalArgumentException if {@code pagesNeeded <= 0}
   */
  public static Choice choose(Slo requesterSlo, List<Candidate> running, int pagesNeeded, Map<String, Integer> headroom) {
    if (pagesNeeded <= 0) throw new IllegalArgumentException("pagesNeeded must be > 0, got " + pagesNeeded);
    List<Candidate> order = new ArrayList<>(running.stream().filter(c -> eligible(requesterSlo, c)).toList());
    order.sort(VICTIM_ORDER);
    Map<String, Integer> left = new HashMap<>(headroom);
    List<Candidate> victims = new ArrayList<>();
    int freed = 0;
    for (Candidate c : order) {
      if (freed >= pagesNeeded) break;
      if (c.pages() == 0) continue;
      Integer room = left.get(c.modelId());
      if (room != null) {
        if (c.pages() > room) continue;
        left.put(c.modelId(), room - c.pages());
      }
      victims.add(c);
      freed += c.pages();
    }
    return new Choice(victims, freed, freed >= pagesNeeded);
  }

  /**
   * Slack of a decoding sequence before its TPOT SLO breaks: how long its next token may still
   * take. TPOT is the mean gap after the first token, so after {@code tokensAfterFirst} more tokens
   * the next one keeps the mean within {@code tpotSlo} iff it comes by
   * {@code firstTokenNanos + (tokensAfterFirst + 1) * tpotSlo}. Negative when already late.
   *
   * @param firstTokenNanos when the sequence emitted its first token
   * @param tokensAfterFirst tokens emitted since the first, {@code >= 0}
   * @param tpotSlo the model's TPOT SLO
   * @param nowNanos current time
   */
  public static long slackNanos(long firstTokenNanos, int tokensAfterFirst, Duration tpotSlo, long nowNanos) {
    if (tokensAfterFirst < 0) throw new IllegalArgumentException("tokensAfterFirst must be >= 0, got " + tokensAfterFirst);
    return firstTokenNanos + (tokensAfterFirst + 1L) * tpotSlo.toNanos() - nowNanos;
  }
}
