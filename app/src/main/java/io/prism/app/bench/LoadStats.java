package io.prism.app.bench;

/**
 * Totals of a benchmark's rounds at one concurrency: generated tokens, wall time, the fastest
 * round's tokens/s, and per request its TTFT and TPOT (means). Not thread-safe: filled by the thread that runs the rounds.
 */
public final class LoadStats {
  private long tokens;
  private long wallNanos;
  private long tokensAtLastRound;
  private double bestRoundTokensPerSecond = Double.NaN;
  private double ttftSumNanos, tpotSumNanos;
  private int ttftCount, tpotCount;
  private int requests, ended, failed;

  /** Adds a round that took {@code wallNanos} from its first request sent to its last response ended. */
  void addRound(long wallNanos) {
    this.wallNanos += wallNanos;
    double rate = (tokens - tokensAtLastRound) / (wallNanos / 1e9);
    tokensAtLastRound = tokens;
    if (wallNanos > 0 && !(rate <= bestRoundTokensPerSecond)) bestRoundTokensPerSecond = rate;
  }

  /**
   * Generated tokens per second of the fastest round: on a shared machine the round least slowed
   * by other processes (NaN before the first round). Call {@link #addRound} after the round's
   * requests.
   */
  public double bestRoundTokensPerSecond() {
    return bestRoundTokensPerSecond;
  }

  /**
   * Adds one request that ended.
   *
   * @param ttftNanos arrival to first token, or -1 if it had none
   * @param tpotNanos mean time per output token after the first, or -1 if it had fewer than two
   * @param generated tokens it generated (0 if it failed)
   * @param ok whether it ended normally
   */
  void addRequest(long ttftNanos, double tpotNanos, int generated, boolean ok) {
    requests++;
    ended++;
    if (!ok) failed++;
    tokens += Math.max(0, generated);
    if (ttftNanos >= 0) {
      ttftSumNanos += ttftNanos;
      ttftCount++;
    }
    if (tpotNanos >= 0) {
      tpotSumNanos += tpotNanos;
      tpotCount++;
    }
  }

  /** Counts a request that was sent but never ended (a benchmark bug or a lost response). */
  void addLost() {
    requests++;
    failed++;
  }

  /** Generated tokens per second over all rounds (all requests together). */
  public double tokensPerSecond() {
    return wallNanos == 0 ? Double.NaN : tokens / (wallNanos / 1e9);
  }

  /** Mean time to first token in milliseconds. */
  public double meanTtftMillis() {
    return ttftCount == 0 ? Double.NaN : ttftSumNanos / ttftCount / 1e6;
  }

  /** Mean time per output token (after the first) in milliseconds. */
  public double meanTpotMillis() {
    return tpotCount == 0 ? Double.NaN : tpotSumNanos / tpotCount / 1e6;
  }

  /** Requests sent. */
  public int requests() {
    return requests;
  }

  /** Requests that ended (normally or not). */
  public int ended() {
    return ended;
  }

  /** Requests that failed or never ended. */
  public int failed() {
    return failed;
  }
}
