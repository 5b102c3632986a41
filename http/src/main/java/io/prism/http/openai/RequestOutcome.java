package io.prism.http.openai;

import io.prism.actors.frontend.GenerationEvent;
import io.prism.http.PrismMetrics;
import io.prism.runtime.engine.FinishReason;
import io.prism.runtime.engine.Rejection;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * How one completion request ended, as the HTTP layer sees it, counted exactly once in {@link
 * PrismMetrics}: the first of {@link #succeeded}, {@link #rejected}, {@link #failed} or {@link
 * #cancelled} decides, later calls (e.g. the model's {@code Completed} racing the client's
 * disconnect) return false and count nothing. Also records the time to first token.
 *
 * <p>Threading: thread-safe (events, the client's disconnect and the request timeout arrive on
 * different threads).
 */
final class RequestOutcome {
  private final String model;
  private final PrismMetrics metrics;
  private final long arrivalNanos = System.nanoTime();
  private final AtomicLong firstTokenNanos = new AtomicLong(-1);
  private final AtomicBoolean settled = new AtomicBoolean();

  RequestOutcome(String model, PrismMetrics metrics) {
    this.model = model;
    this.metrics = metrics;
  }

  /** Notes {@code e}: the first chunk's time (TTFT) and the request's end if {@code e} is {@code Completed}. */
  GenerationEvent observe(GenerationEvent e) {
    long now = System.nanoTime();
    if (e instanceof GenerationEvent.Chunk && firstTokenNanos.compareAndSet(-1, now)) {
      metrics.firstToken(model, (now - arrivalNanos) / 1e9);
    } else if (e instanceof GenerationEvent.Completed c) {
      completed(c, now);
    }
    return e;
  }

  private void completed(GenerationEvent.Completed c, long now) {
    switch (c.reason()) {
      case STOP, LENGTH -> {
        if (!settled.compareAndSet(false, true)) return;
        long first = firstTokenNanos.get();
        double tpot = first >= 0 && c.completionTokens() > 1 ? (now - first) / 1e9 / (c.completionTokens() - 1) : Double.NaN;
        double ttft = first >= 0 ? (first - arrivalNanos) / 1e9 : Double.NaN;
        metrics.succeeded(model, c.reason(), (now - arrivalNanos) / 1e9, ttft, tpot);
      }
      case FAILED -> failed("engine_error");
      case CANCELLED -> cancelled();
    }
  }

  /** The request was refused before it started; false if its outcome was already decided. */
  boolean rejected(Rejection.Kind kind) {
    if (!settled.compareAndSet(false, true)) return false;
    metrics.rejected(model, kind);
    return true;
  }

  /** The request failed ({@code reason} as in {@link PrismMetrics#failed}); false if already decided. */
  boolean failed(String reason) {
    if (!settled.compareAndSet(false, true)) return false;
    metrics.failed(model, reason);
    return true;
  }

  /** The request was cancelled; false if its outcome was already decided (then nothing is left to cancel). */
  boolean cancelled() {
    if (!settled.compareAndSet(false, true)) return false;
    metrics.cancelled(model);
    return true;
  }

  /** Whether the outcome is decided. */
  boolean settled() {
    return settled.get();
  }

  /** Whether {@code r} ends a request successfully. */
  static boolean success(FinishReason r) {
    return r == FinishReason.STOP || r == FinishReason.LENGTH;
  }
}
