package io.prism.actors;

import io.prism.runtime.engine.Device;
import io.prism.runtime.memory.PagePool;
import io.prism.runtime.policy.ReclaimAction;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongSupplier;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

/**
 * Owns one device's {@link PagePool}: creates it (on the device's engine thread), keeps its reserve
 * of pre-created pages topped up between engine steps, carries out the reclaim plans and idle
 * evictions its {@link GpuActor} decides ({@link ReclaimExecutor}), and takes the device's
 * snapshots. It runs on the device's one-thread dispatcher, like the device's {@link ModelActor}s,
 * which draw pages from the same pool inside their engine steps (the engine maps the pages it is
 * granted into its KV cache; with one thread per device that is the same owner).
 *
 * <p>Life cycle: on first start it creates the pool and the {@link GpuRuntime}, fills the reserve
 * and sends {@link GpuActor.PoolReady} (a node-local message carrying the runtime) to its parent. On
 * stop it releases the reserve's pages to the driver; the pool itself, with the pages the models
 * hold, lives on in the runtime, and the GPU actor starts a new pool actor over it ({@link #resume}).
 */
public final class PagePoolActor extends AbstractBehavior<PagePoolActor.Command> {
  /** Messages of the pool protocol. */
  public sealed interface Command extends PrismMessage {}

  /** Tops the reserve up; sent by model actors after a step that left it short. */
  public enum RefillReserve implements Command {
    INSTANCE
  }

  /**
   * Takes the device's {@link GpuStatus} and sends it to the GPU actor as {@link
   * GpuActor.PoolSnapshot} with {@code replyTo} (null: for the GPU actor's report and idle check).
   */
  public record Snapshot(ActorRef<GpuStatus> replyTo) implements Command {}

  /**
   * Carries out a reclaim plan for {@code forModel}, step by step, and answers {@link
   * GpuActor.Reclaimed}. {@code fault} (tests): {@code "throw"} or {@code "stop"} after the first
   * step, leaving the negotiation unfinished; empty otherwise.
   */
  public record Reclaim(long negotiationId, String forModel, List<ReclaimAction> actions, long idleThresholdNanos, String fault)
      implements Command {}

  /** Evicts the models still idle at least {@code idleThresholdNanos}; answers {@link GpuActor.IdleEvicted}. */
  public record EvictIdle(List<String> modelIds, long idleThresholdNanos) implements Command {}

  /** Replies with the recent per-step samples ({@code prism.gpu.trace-steps}). */
  public record GetTrace(ActorRef<StepTrace> replyTo) implements Command {}

  /** Test hook: fails the actor; its parent resumes it (the pool and its pages are untouched). */
  public record InjectFault(String message) implements Command {}

  private final GpuRuntime runtime;
  private final long incarnation;
  private final long stallTimeoutNanos;
  private final ActorRef<GpuActor.Command> parent;

  /**
   * A pool actor that creates the device's pool.
   *
   * @param gpu the device's id
   * @param device the device (its memory backs the pool)
   * @param budgetBytes budget for weights plus pages
   * @param reservePages pages to keep pre-created
   * @param incarnation id of the parent GPU actor instance, copied into statuses
   * @param stallTimeout how long an engine may have work without progress before the device is unhealthy
   * @param clock the device's clock (nanoseconds; the engines' clock)
   * @param policies the ballooning settings
   * @param parent receives {@link GpuActor.PoolReady}
   */
  public static Behavior<Command> create(GpuId gpu, Device device, long budgetBytes, int reservePages, long incarnation,
      Duration stallTimeout, LongSupplier clock, GpuPolicySettings policies, ActorRef<GpuActor.Command> parent) {
    return Behaviors.setup(ctx -> {
      PagePool pool = new PagePool(device.memory(), budgetBytes, reservePages);
      return start(ctx, new GpuRuntime(gpu, device, pool, clock, policies), incarnation, stallTimeout, parent);
    });
  }

  /** A pool actor over the runtime of a pool actor that stopped (same thread, same pool, same engines). */
  static Behavior<Command> resume(GpuRuntime runtime, long incarnation, Duration stallTimeout, ActorRef<GpuActor.Command> parent) {
    return Behaviors.setup(ctx -> start(ctx, runtime, incarnation, stallTimeout, parent));
  }

  private static Behavior<Command> start(ActorContext<Command> ctx, GpuRuntime runtime, long incarnation, Duration stallTimeout,
      ActorRef<GpuActor.Command> parent) {
    runtime.checkThread();
    runtime.poolActor(ctx.getSelf());
    runtime.pool().refillReserve();
    parent.tell(new GpuActor.PoolReady(runtime));
    return new PagePoolActor(ctx, runtime, incarnation, stallTimeout, parent);
  }

  private PagePoolActor(ActorContext<Command> ctx, GpuRuntime runtime, long incarnation, Duration stallTimeout, ActorRef<GpuActor.Command> parent) {
    super(ctx);
    this.runtime = runtime;
    this.incarnation = incarnation;
    this.stallTimeoutNanos = stallTimeout.toNanos();
    this.parent = parent;
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessageEquals(RefillReserve.INSTANCE, this::onRefillReserve)
        .onMessage(Snapshot.class, m -> {
          parent.tell(new GpuActor.PoolSnapshot(runtime.snapshot(incarnation, stallTimeoutNanos), m.replyTo()));
          return this;
        })
        .onMessage(Reclaim.class, this::onReclaim)
        .onMessage(EvictIdle.class, this::onEvictIdle)
        .onMessage(GetTrace.class, m -> {
          m.replyTo().tell(runtime.trace());
          return this;
        })
        .onMessage(InjectFault.class, m -> {
          throw new IllegalStateException("injected fault in page pool of " + runtime.gpu() + ": " + m.message());
        })
        .onSignal(PostStop.class, s -> onPostStop())
        .build();
  }

  private Behavior<Command> onRefillReserve() {
    runtime.checkThread();
    runtime.pool().refillReserve();
    return this;
  }

  private Behavior<Command> onReclaim(Reclaim m) {
    runtime.checkThread();
    List<ReclaimExecutor.Result> results = new ArrayList<>();
    for (ReclaimAction a : m.actions()) {
      try {
        results.add(ReclaimExecutor.execute(runtime, a, m.forModel(), m.idleThresholdNanos()));
      } catch (RuntimeException e) {
        getContext().getLog().error("Reclaim step {} for {} on {} failed", a, m.forModel(), runtime.gpu(), e);
        results.add(new ReclaimExecutor.Result(a.getClass().getSimpleName(), "", a.pages(), 0, "failed: " + ModelActor.rootMessage(e)));
      }
      if (!m.fault().isEmpty()) {
        getContext().getLog().warn("Injected fault in the page pool of {} in the middle of a reclaim for {}: {}", runtime.gpu(), m.forModel(), m.fault());
        if (m.fault().equals("stop")) return Behaviors.stopped();
        throw new IllegalStateException("injected fault in the middle of a reclaim for " + m.forModel());
      }
    }
    parent.tell(new GpuActor.Reclaimed(m.negotiationId(), m.forModel(), results));
    return this;
  }

  private Behavior<Command> onEvictIdle(EvictIdle m) {
    runtime.checkThread();
    List<ReclaimExecutor.Result> results = new ArrayList<>();
    for (String id : m.modelIds()) results.add(ReclaimExecutor.evict(runtime, id, 0, m.idleThresholdNanos(), "(idle)"));
    runtime.pool().refillReserve();
    parent.tell(new GpuActor.IdleEvicted(results));
    return this;
  }

  private Behavior<Command> onPostStop() {
    int released = runtime.pool().drainReserve();
    getContext().getLog().debug("Page pool actor of {} stopped; released {} reserve pages", runtime.gpu(), released);
    return this;
  }
}
