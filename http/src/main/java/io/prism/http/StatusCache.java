package io.prism.http;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;

/**
 * A status that is slow to gather under load (the GPU actors answer from busy device threads),
 * served within a bound: {@link #get} starts a fresh ask unless one is already running, and waits
 * for it at most {@code answerWithin}; if it is not back by then, the last known value is answered
 * instead, with its age. The fresh ask still completes (the node's own timeouts end it, e.g. {@code
 * prism.node.health-timeout}, listing a GPU that did not answer as unhealthy) and becomes the next
 * last known value. Before the first value exists, {@link #get} waits for the ask.
 *
 * <p>Threading: thread-safe; at most one ask in flight.
 *
 * @param <T> the status
 */
public final class StatusCache<T> {
  /** A value and how old it is. */
  public record Snapshot<T>(T value, Duration age) {}

  private record Known<T>(T value, long atNanos) {}

  private final Supplier<CompletionStage<T>> ask;
  private final Duration answerWithin;
  private final AtomicReference<CompletableFuture<Known<T>>> inflight = new AtomicReference<>();
  private volatile Known<T> last;

  /**
   * @param ask gathers a fresh value; called from the thread that calls {@link #get}
   * @param answerWithin longest wait for a fresh value while an older one is known
   */
  public StatusCache(Supplier<CompletionStage<T>> ask, Duration answerWithin) {
    this.ask = ask;
    this.answerWithin = answerWithin;
  }

  /** A fresh value if it arrives within the bound, else the last known one; fails only if the first ask fails. */
  public CompletionStage<Snapshot<T>> get() {
    CompletableFuture<Known<T>> fresh = inflight.get();
    if (fresh == null) {
      CompletableFuture<Known<T>> mine = new CompletableFuture<>();
      if (inflight.compareAndSet(null, mine)) {
        fresh = mine;
        ask.get().whenComplete((v, e) -> {
          inflight.compareAndSet(mine, null);
          if (e != null) {
            mine.completeExceptionally(e);
          } else {
            Known<T> k = new Known<>(v, System.nanoTime());
            last = k;
            mine.complete(k);
          }
        });
      } else {
        fresh = inflight.get(); // another caller started one
        if (fresh == null) return get(); // ... and it is already done
      }
    }
    Known<T> known = last;
    CompletableFuture<Known<T>> answer = known == null ? fresh
        : fresh.exceptionally(e -> known).copy().completeOnTimeout(known, answerWithin.toNanos(), TimeUnit.NANOSECONDS);
    return answer.thenApply(k -> new Snapshot<>(k.value(), Duration.ofNanos(System.nanoTime() - k.atNanos())));
  }
}
