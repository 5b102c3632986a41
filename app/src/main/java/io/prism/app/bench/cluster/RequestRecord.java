package io.prism.app.bench.cluster;

/**
 * What one request of a {@link SteadyLoad} saw.
 *
 * @param model the model asked for
 * @param node the node the request entered ({@link LocalNode#name()})
 * @param sentNanos {@link System#nanoTime()} when it was sent
 * @param endNanos when it ended (answer complete, connection failed, or the client's bound ran out)
 * @param outcome how it ended
 * @param status HTTP status, -1 if none came (connection failed, or hung)
 * @param detail the error (body excerpt or exception), empty when ok
 * @param attempts attempts made (1, plus the client's retries; {@link SteadyLoad})
 */
public record RequestRecord(String model, String node, long sentNanos, long endNanos, Outcome outcome, int status, String detail, int attempts) {
  /** One attempt. */
  public RequestRecord(String model, String node, long sentNanos, long endNanos, Outcome outcome, int status, String detail) {
    this(model, node, sentNanos, endNanos, outcome, status, detail, 1);
  }

  /** How a request ended. */
  public enum Outcome {
    /** 200 and a stream that ran to {@code data: [DONE]} without an error frame. */
    OK,
    /** An error status, an error frame, a stream cut short, or a connection that failed. */
    FAILED,
    /** No complete answer within the client's bound (the request was abandoned then). */
    HUNG
  }

  /** Seconds from {@code originNanos} to when the request was sent. */
  public double sentSecondsAfter(long originNanos) {
    return (sentNanos - originNanos) / 1e9;
  }

  /** Seconds from {@code originNanos} to when the request ended. */
  public double endSecondsAfter(long originNanos) {
    return (endNanos - originNanos) / 1e9;
  }

  /** Seconds from sending to the end. */
  public double latencySeconds() {
    return (endNanos - sentNanos) / 1e9;
  }

  /** Whether it ended with {@link Outcome#OK}. */
  public boolean ok() {
    return outcome == Outcome.OK;
  }
}
