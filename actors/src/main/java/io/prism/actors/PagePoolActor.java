package io.prism.actors;

import io.prism.runtime.engine.Device;
import io.prism.runtime.memory.PagePool;
import java.time.Duration;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

/**
 * Owns one device's {@link PagePool}: creates it (on the device's engine thread), keeps its reserve
 * of pre-created pages topped up between engine steps, and reports the device's memory. It runs on
 * the device's one-thread dispatcher, like the device's {@link ModelActor}s, which draw pages from
 * the same pool inside their engine steps (the engine maps the pages it is granted into its KV
 * cache; with one thread per device that is the same owner).
 *
 * <p>Life cycle: on start it creates the pool, fills the reserve and sends {@link
 * GpuActor.PoolReady} (a node-local message carrying the {@link GpuRuntime}) to its parent. On stop
 * it releases the reserve's pages to the driver.
 */
public final class PagePoolActor extends AbstractBehavior<PagePoolActor.Command> {
  /** Messages of the pool protocol. */
  public sealed interface Command extends PrismMessage {}

  /** Tops the reserve up; sent by model actors after a step that left it short. */
  public enum RefillReserve implements Command {
    INSTANCE
  }

  /** Replies with the device's {@link GpuStatus}, taken on the engine thread. */
  public record GetStatus(ActorRef<GpuStatus> replyTo) implements Command {}

  /** Test hook: fails the actor; its parent resumes it (the pool and its pages are untouched). */
  public record InjectFault(String message) implements Command {}

  private final GpuRuntime runtime;
  private final long incarnation;
  private final long stallTimeoutNanos;

  /**
   * @param gpu the device's id
   * @param device the device (its memory backs the pool)
   * @param budgetBytes budget for weights plus pages
   * @param reservePages pages to keep pre-created
   * @param incarnation id of the parent GPU actor instance, copied into statuses
   * @param stallTimeout how long an engine may have work without progress before the device is unhealthy
   * @param parent receives {@link GpuActor.PoolReady}
   */
  public static Behavior<Command> create(GpuId gpu, Device device, long budgetBytes, int reservePages, long incarnation,
      Duration stallTimeout, ActorRef<GpuActor.Command> parent) {
    return Behaviors.setup(ctx -> {
      PagePool pool = new PagePool(device.memory(), budgetBytes, reservePages);
      pool.refillReserve();
      GpuRuntime runtime = new GpuRuntime(gpu, device, pool);
      parent.tell(new GpuActor.PoolReady(runtime));
      return new PagePoolActor(ctx, runtime, incarnation, stallTimeout);
    });
  }

  private PagePoolActor(ActorContext<Command> ctx, GpuRuntime runtime, long incarnation, Duration stallTimeout) {
    super(ctx);
    this.runtime = runtime;
    this.incarnation = incarnation;
    this.stallTimeoutNanos = stallTimeout.toNanos();
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessageEquals(RefillReserve.INSTANCE, this::onRefillReserve)
        .onMessage(GetStatus.class, this::onGetStatus)
        .onMessage(InjectFault.class, m -> {
          throw new IllegalStateException("injected fault in page pool of " + runtime.gpu() + ": " + m.message());
        })
        .onSignal(PostStop.class, s -> onPostStop())
        .build();
  }

  private Behavior<Command> onRefillReserve() {
    runtime.pool().refillReserve();
    return this;
  }

  private Behavior<Command> onGetStatus(GetStatus m) {
    m.replyTo().tell(runtime.snapshot(incarnation, stallTimeoutNanos));
    return this;
  }

  private Behavior<Command> onPostStop() {
    int released = runtime.pool().drainReserve();
    getContext().getLog().debug("Page pool of {} stopped; released {} reserve pages", runtime.gpu(), released);
    return this;
  }

}
