package io.prism.app.bench;

import io.prism.runtime.policy.Slo;
import java.io.IOException;
import java.io.Writer;
import java.util.Locale;

/**
 * What one replayed request did, as the client saw it: one CSV row of {@code prism bench replay}.
 * Every request the replay sends ends in exactly one {@link Outcome}. Immutable.
 *
 * @param policy the policy's name
 * @param rateScale the run's rate scale
 * @param requestId the trace request's id
 * @param modelId the model it asked for
 * @param arrivalNanos its arrival in the trace, nanoseconds after the run's start
 * @param sentNanos when it was written, nanoseconds after the run's start (-1: never sent)
 * @param promptTokens prompt tokens
 * @param maxTokens tokens asked for (EOS ignored, so also the tokens expected)
 * @param outcome how it ended
 * @param status HTTP status (-1: none)
 * @param ttftNanos request written to first streamed token (-1: no token)
 * @param tpotNanos mean gap between tokens after the first, nanoseconds (-1: fewer than two tokens)
 * @param completionTokens generated tokens from the usage frame (-1: none)
 * @param e2eNanos written to end of response (-1: never sent)
 * @param ttftMet ended {@code OK} with TTFT within the model's SLO
 * @param tpotMet ended {@code OK} with TPOT within the model's SLO (a single token meets it)
 * @param error empty if none; for a rejection {@code "<status> <code>: <message>"} from the OpenAI
 *     error envelope (e.g. {@code 503 slo_unattainable: ... estimated TTFT 812 ms ...}), so the
 *     estimate that refused it is in the CSV; otherwise the error text
 */
public record ReplayRecord(String policy, double rateScale, String requestId, String modelId, long arrivalNanos, long sentNanos, int promptTokens,
    int maxTokens, Outcome outcome, int status, long ttftNanos, double tpotNanos, int completionTokens, long e2eNanos, boolean ttftMet,
    boolean tpotMet, String error) {

  /** How a request ended. */
  public enum Outcome {
    /** HTTP 200, streamed to {@code [DONE]} with usage and no error frame. */
    OK,
    /** Refused before its stream: HTTP 429 or 503 (admission, queue bounds, unavailable model). */
    REJECTED,
    /** Anything else: connection failure, another status, an error frame in the stream. */
    FAILED,
    /** No end within the client's timeout (a socket read or the replay's drain period). */
    TIMED_OUT
  }

  /** The CSV header, matching {@link #writeCsv}. */
  public static final String CSV_HEADER = "policy,rate_scale,request_id,model,arrival_s,sent_s,prompt_tokens,max_tokens,outcome,status,ttft_ms,tpot_ms,"
      + "completion_tokens,e2e_ms,ttft_met,tpot_met,slo_met,error\n";

  /** Met both SLOs. */
  public boolean sloMet() {
    return ttftMet && tpotMet;
  }

  /**
   * The record of a request from its client result.
   *
   * @param startNanos the run's start ({@link System#nanoTime()} clock)
   * @param timedOut true when the replay gave up waiting for it (drain period over)
   */
  static ReplayRecord of(String policy, double rateScale, String requestId, String modelId, long arrivalNanos, int promptTokens, int maxTokens,
      SseClient.Result r, boolean timedOut, long startNanos, Slo slo) {
    if (r == null) {
      return new ReplayRecord(policy, rateScale, requestId, modelId, arrivalNanos, -1, promptTokens, maxTokens, timedOut ? Outcome.TIMED_OUT : Outcome.FAILED,
          -1, -1, -1, -1, -1, false, false, timedOut ? "no end within the drain period" : "not sent");
    }
    Outcome outcome;
    if (timedOut || (r.error() != null && r.error().contains("SocketTimeoutException"))) outcome = Outcome.TIMED_OUT;
    else if (r.ok()) outcome = Outcome.OK;
    else if ((r.status() == 429 || r.status() == 503) && r.firstTokenNanos() < 0) outcome = Outcome.REJECTED;
    else outcome = Outcome.FAILED;
    long ttft = r.firstTokenNanos() < 0 ? -1 : r.firstTokenNanos() - r.sentNanos();
    double tpot = r.completionTokens() > 1 && r.lastTokenNanos() > r.firstTokenNanos()
        ? (double) (r.lastTokenNanos() - r.firstTokenNanos()) / (r.completionTokens() - 1) : -1;
    boolean ok = outcome == Outcome.OK;
    boolean ttftMet = ok && ttft >= 0 && ttft <= slo.ttft().toNanos();
    boolean tpotMet = ok && (tpot < 0 || tpot <= slo.tpot().toNanos());
    String error = r.error() == null ? "" : outcome == Outcome.REJECTED ? rejection(r.status(), r.error()) : r.error();
    long sent = r.sentNanos() < 0 ? -1 : r.sentNanos() - startNanos;
    return new ReplayRecord(policy, rateScale, requestId, modelId, arrivalNanos, sent, promptTokens, maxTokens, outcome, r.status(), ttft, tpot,
        r.completionTokens(), r.sentNanos() < 0 ? -1 : r.endNanos() - r.sentNanos(), ttftMet, tpotMet, error);
  }

  /** {@code "<status> <code>: <message>"} of an OpenAI error envelope; without a message, {@code "<status> <code>"}. */
  static String rejection(int status, String body) {
    String head = status + " " + AdmissionReport.errorCode(body);
    try {
      com.fasterxml.jackson.databind.JsonNode message = MAPPER.readTree(body).path("error").path("message");
      return message.isTextual() && !message.asText().isEmpty() ? head + ": " + message.asText() : head;
    } catch (IOException | RuntimeException notJson) {
      return head;
    }
  }

  private static final com.fasterxml.jackson.databind.ObjectMapper MAPPER = new com.fasterxml.jackson.databind.ObjectMapper();

  /** Writes this record as one CSV line (see {@link #CSV_HEADER}). */
  public void writeCsv(Writer w) throws IOException {
    w.write(String.format(Locale.ROOT, "%s,%.3f,%s,%s,%.6f,%.6f,%d,%d,%s,%d,%.3f,%.3f,%d,%.3f,%b,%b,%b,%s%n", policy, rateScale, requestId, modelId,
        arrivalNanos / 1e9, sentNanos < 0 ? -1.0 : sentNanos / 1e9, promptTokens, maxTokens, outcome.name().toLowerCase(Locale.ROOT), status,
        ttftNanos < 0 ? -1.0 : ttftNanos / 1e6, tpotNanos < 0 ? -1.0 : tpotNanos / 1e6, completionTokens, e2eNanos < 0 ? -1.0 : e2eNanos / 1e6,
        ttftMet, tpotMet, sloMet(), csvField(error)));
  }

  private static String csvField(String s) {
    String one = s.replace('\n', ' ').replace('\r', ' ');
    if (one.length() > 200) one = one.substring(0, 200);
    return one.isEmpty() ? "" : "\"" + one.replace("\"", "\"\"") + "\"";
  }
}
