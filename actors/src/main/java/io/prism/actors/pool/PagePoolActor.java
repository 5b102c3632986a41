package io.prism.actors.pool;

import io.prism.actors.GpuId;
import io.prism.actors.PrismMessage;
import io.prism.actors.gpu.GpuActor;
import io.prism.actors.gpu.GpuPolicySettings;
import io.prism.actors.gpu.StepTrace;
import io.prism.actors.model.ModelActor;

import io.prism.runtime.memory.PageAllocation;
import io.prism.runtime.memory.PagePool;
import io.prism.runtime.memory.PhysicalPage;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.PreRestart;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

/**
 * The physical pages of one device: the only owner of its {@link PagePool} (budget, weights
 * accounting, reserve, per-model holdings and limits). Model actors get pages from it by message
 * ({@link Acquire}, answered {@link ModelActor.PagesGranted}, possibly with fewer pages than asked)
 * and give them back by message ({@link Return}); weights are reserved and released the same way.
 * When it cannot cover an {@link Acquire} that asks for negotiation, it tells its {@link GpuActor}
 * ({@link GpuActor.NeedPages}), which plans a reclaim; the pages that reclaim frees come back here
 * with a {@link Handover} and go straight to the requester.
 *
 * <pre>
 *   ModelActor --Acquire--> PagePoolActor --PagesGranted--> ModelActor
 *                                 | short: NeedPages
 *                                 v
 *                              GpuActor --Reclaim--> victim ModelActor --Return(+Handover)--> PagePoolActor
 *                                 ^                                                            | PagesGranted -> requester
 *                                 +------------------------ Reclaimed -------------------------+
 * </pre>
 *
 * <p>Threading: the device's one-thread dispatcher (the driver calls that create and release pages
 * happen here). Failure: a failure while handling a message resumes the actor (its pool is
 * untouched); {@link PoolRestart} restarts it over the same pool and mailbox (nothing is lost), and
 * the GPU actor is told ({@link GpuActor.PoolRestarted}). With {@code prism.gpu.check-invariants}
 * the pool's accounting is checked after every change; the first violation is kept for the status.
 */
public final class PagePoolActor extends AbstractBehavior<PagePoolActor.Command> {
  /** Messages of the page pool protocol. */
  public sealed interface Command extends PrismMessage {}

  /**
   * A model joins the device: reserve its weight bytes, set its limits and grant it {@code pages}
   * pages (for its prefill-speed measurement). Answered {@link ModelActor.Joined}; nothing is
   * reserved when the weights do not fit. Then, with {@code negotiate} and weights within the
   * budget, the GPU actor negotiates room for them ({@link GpuActor.NeedPages} for weights), and
   * the model joins again when it is told the outcome.
   */
  public record Join(String owner, long weightBytes, int minPages, int maxPages, int pages, boolean negotiate, ActorRef<ModelActor.Command> replyTo)
      implements Command {}

  /**
   * Asks for {@code pages} pages in multiples of {@code unit}: granted as many as the pool can give
   * now ({@link ModelActor.PagesGranted}, maybe none). If some are missing and {@code shortfall} is
   * given, the GPU actor negotiates the rest ({@link GpuActor.NeedPages}).
   */
  public record Acquire(String owner, int pages, int unit, Shortfall shortfall, ActorRef<ModelActor.Command> replyTo) implements Command {}

  /**
   * The context of a shortage the GPU actor should negotiate.
   *
   * @param pagesForRunning of the pages, those its running sequences need (decode cannot wait)
   * @param prefillAtRisk a request of it is at risk of its TTFT SLO ({@code MemoryAsk.atRisk})
   */
  public record Shortfall(int pagesForRunning, boolean prefillAtRisk) implements PrismMessage {}

  /**
   * An evicted model wants its weights back: reserve {@code weightBytes} and restore its limits;
   * answered {@link ModelActor.WeightsReserved}. If there is no room and {@code negotiate}, the GPU
   * actor negotiates it ({@link GpuActor.NeedPages} for weights).
   */
  public record Activate(String owner, long weightBytes, int minPages, int maxPages, boolean negotiate, ActorRef<ModelActor.Command> replyTo)
      implements Command {}

  /** Pages a model no longer needs; with a {@link Handover} when a reclaim freed them (else null). */
  public record Return(String owner, List<PhysicalPage> pages, Handover handover) implements Command, NoSerializationVerificationNeeded {}

  /** A model evicted its weights to host memory: its weight bytes and these pages come back, its minimum is dropped. */
  public record Evicted(String owner, List<PhysicalPage> pages, Handover handover) implements Command, NoSerializationVerificationNeeded {}

  /** A model leaves the device (unloaded, failed): its pages, weights and limits go. */
  public record Leave(String owner, List<PhysicalPage> pages) implements Command, NoSerializationVerificationNeeded {}

  /**
   * How many pre-created pages a model wants kept in the reserve for its next page id ({@code
   * 2 * layers} of them; 0 withdraws the wish): the reserve target is the larger of the pool's own
   * and the sum of the wishes, so every model maps its next page id without a driver create on its
   * decode path.
   */
  public record WantReserve(String owner, int pages) implements Command {}

  /** New page limits of a model ({@code maxPages} 0: none; a lowered maximum takes effect lazily). */
  public record SetLimits(String owner, int minPages, int maxPages) implements Command {}

  /** Replies with the pool's {@link PoolView}. */
  public record Snapshot(ActorRef<PoolView> replyTo) implements Command {}

  /** A model stepped: a trace sample of every model's holdings ({@code prism.gpu.trace-steps}). */
  public record Stepped(String owner) implements Command {}

  /** Replies with the recent per-step samples. */
  public record GetTrace(ActorRef<StepTrace> replyTo) implements Command {}

  /** Test hook: fails the actor; it is resumed (the pool is untouched). */
  public record InjectFault(String message) implements Command {}

  /**
   * Test hook: with the next {@link Return} that carries a {@link Handover}, fail after granting the
   * pages and before reporting: {@code "throw"} (resumed) or {@code "stop"} (restarted over the
   * same pool); the negotiation is left unfinished.
   */
  public record ArmReclaimFault(String mode) implements Command {}

  /** Thrown to restart the actor over the same pool (fault injection). */
  static final class PoolRestart extends RuntimeException {
    PoolRestart(String message) {
      super(message);
    }
  }

  /**
   * @param gpu the device's id
   * @param description the device, for statuses
   * @param pool the device's pool, created by the caller and from now on touched only by this actor
   * @param policies invariant checks and tracing
   * @param parent the GPU actor (shortages, reclaim reports, restarts)
   */
  public static Behavior<Command> create(GpuId gpu, String description, PagePool pool, GpuPolicySettings policies,
      ActorRef<GpuActor.Command> parent) {
    State state = new State(pool);
    Behavior<Command> b = Behaviors.setup(ctx -> {
      pool.refillReserve();
      return new PagePoolActor(ctx, gpu, description, state, policies, parent);
    });
    return Behaviors.supervise(Behaviors.supervise(b).onFailure(PoolRestart.class, SupervisorStrategy.restart()))
        .onFailure(RuntimeException.class, SupervisorStrategy.resume());
  }

  /** What survives a restart: the pool and its books. */
  private static final class State {
    final PagePool pool;
    final ArrayDeque<StepTrace.Sample> trace = new ArrayDeque<>();
    long stepSeq;
    String violation = "";
    long checks;
    String fault = "";

    State(PagePool pool) {
      this.pool = pool;
    }
  }

  private final GpuId gpu;
  private final String description;
  private final State st;
  private final PagePool pool;
  private final GpuPolicySettings policies;
  private final ActorRef<GpuActor.Command> parent;

  private PagePoolActor(ActorContext<Command> ctx, GpuId gpu, String description, State st, GpuPolicySettings policies,
      ActorRef<GpuActor.Command> parent) {
    super(ctx);
    this.gpu = gpu;
    this.description = description;
    this.st = st;
    this.pool = st.pool;
    this.policies = policies;
    this.parent = parent;
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Join.class, this::onJoin)
        .onMessage(Acquire.class, this::onAcquire)
        .onMessage(Activate.class, this::onActivate)
        .onMessage(Return.class, m -> onReturn(m.owner(), m.pages(), m.handover(), false))
        .onMessage(Evicted.class, m -> onReturn(m.owner(), m.pages(), m.handover(), true))
        .onMessage(Leave.class, this::onLeave)
        .onMessage(WantReserve.class, m -> {
          pool.setReserveWanted(m.owner(), Math.max(0, m.pages()));
          pool.refillReserve();
          checked("reserve wish of " + m.owner());
          return this;
        })
        .onMessage(SetLimits.class, m -> {
          pool.setLimits(m.owner(), m.minPages(), m.maxPages() <= 0 ? Integer.MAX_VALUE : m.maxPages());
          return this;
        })
        .onMessage(Snapshot.class, m -> {
          m.replyTo().tell(view());
          return this;
        })
        .onMessage(Stepped.class, this::onStepped)
        .onMessage(GetTrace.class, m -> {
          m.replyTo().tell(new StepTrace(gpu, List.copyOf(st.trace)));
          return this;
        })
        .onMessage(InjectFault.class, m -> {
          throw new IllegalStateException("injected fault in page pool of " + gpu + ": " + m.message());
        })
        .onMessage(ArmReclaimFault.class, m -> {
          st.fault = m.mode();
          return this;
        })
        .onSignal(PreRestart.class, s -> {
          parent.tell(GpuActor.PoolRestarted.INSTANCE);
          return this;
        })
        .onSignal(PostStop.class, s -> {
          getContext().getLog().debug("Page pool actor of {} stopped; released {} reserve pages", gpu, pool.drainReserve());
          return this;
        })
        .build();
  }

  private Behavior<Command> onJoin(Join m) {
    List<PhysicalPage> pages = List.of();
    boolean ok = pool.reserveWeights(m.owner(), m.weightBytes());
    String reason = "";
    if (ok) {
      pool.setLimits(m.owner(), m.minPages(), m.maxPages() <= 0 ? Integer.MAX_VALUE : m.maxPages());
      pages = grant(m.owner(), m.pages(), 1);
    } else {
      reason = "not enough free memory on " + gpu + " for the weights of " + m.owner() + ": needs " + m.weightBytes() + " bytes, "
          + (long) pool.freePages() * pool.pageBytes() + " free";
    }
    boolean negotiate = !ok && m.negotiate() && m.weightBytes() <= pool.budgetBytes();
    m.replyTo().tell(new ModelActor.Joined(ok, reason, pages, pool.capacityPages(), negotiate));
    if (negotiate) { // time sharing: make room for the weights (idle models leave) and join again
      int need = (int) ((m.weightBytes() + pool.pageBytes() - 1) / pool.pageBytes());
      int reserve = pool.reservePages();
      parent.tell(new GpuActor.NeedPages(m.owner(), need, 0, false, true, Math.max(0, pool.freePages() - reserve), reserve));
    }
    checked("join of " + m.owner());
    return this;
  }

  private Behavior<Command> onAcquire(Acquire m) {
    int unit = Math.max(1, m.unit());
    List<PhysicalPage> pages = grant(m.owner(), m.pages(), unit);
    int missing = m.pages() - pages.size();
    boolean negotiate = missing > 0 && m.shortfall() != null;
    m.replyTo().tell(new ModelActor.PagesGranted(pages, pool.capacityPages(), negotiate));
    if (negotiate) {
      int free = pool.availableTo(m.owner());
      int reserve = Math.min(pool.reservePages(), free);
      parent.tell(new GpuActor.NeedPages(m.owner(), missing, Math.max(0, Math.min(missing, m.shortfall().pagesForRunning() - pages.size())),
          m.shortfall().prefillAtRisk(), false, free - reserve, reserve));
    }
    checked("grant to " + m.owner());
    return this;
  }

  private Behavior<Command> onActivate(Activate m) {
    boolean ok = pool.reserveWeights(m.owner(), m.weightBytes());
    if (ok) pool.setLimits(m.owner(), m.minPages(), m.maxPages() <= 0 ? Integer.MAX_VALUE : m.maxPages());
    m.replyTo().tell(new ModelActor.WeightsReserved(ok, pool.capacityPages()));
    if (!ok && m.negotiate()) {
      int pages = (int) ((m.weightBytes() + pool.pageBytes() - 1) / pool.pageBytes());
      int reserve = pool.reservePages();
      parent.tell(new GpuActor.NeedPages(m.owner(), pages, 0, false, true, pool.freePages() - reserve, reserve));
    }
    checked("weights of " + m.owner());
    return this;
  }

  private Behavior<Command> onReturn(String owner, List<PhysicalPage> pages, Handover h, boolean evicted) {
    if (!pages.isEmpty()) pool.release(owner, pages);
    if (evicted) {
      pool.releaseWeights(owner);
      if (pool.minPagesOf(owner) > 0) pool.setLimits(owner, 0, pool.maxPagesOf(owner));
    }
    if (h != null && h.grantTo() != null && h.grantPages() > 0) {
      int unit = Math.max(1, h.unit());
      int n = (h.grantPages() + unit - 1) / unit * unit;
      List<PhysicalPage> granted = grant(h.forModel(), n, unit);
      if (!granted.isEmpty()) h.grantTo().tell(new ModelActor.PagesGranted(granted, pool.capacityPages(), false));
    }
    pool.refillReserve();
    checked("return of " + pages.size() + " pages by " + owner);
    if (h != null) {
      if (h.negotiationId() >= 0 && !st.fault.isEmpty()) {
        String mode = st.fault;
        st.fault = "";
        getContext().getLog().warn("Injected fault in the page pool of {} in the middle of reclaim {} for {}: {}", gpu, h.negotiationId(),
            h.forModel(), mode);
        if (mode.equals("stop")) throw new PoolRestart("injected fault in the middle of reclaim " + h.negotiationId());
        throw new IllegalStateException("injected fault in the middle of reclaim " + h.negotiationId());
      }
      parent.tell(new GpuActor.Reclaimed(h.negotiationId(), owner, h.forModel(), h.results()));
    }
    return this;
  }

  private Behavior<Command> onLeave(Leave m) {
    if (!m.pages().isEmpty()) pool.release(m.owner(), m.pages());
    if (pool.weightBytesOf(m.owner()) > 0) pool.releaseWeights(m.owner());
    pool.setLimits(m.owner(), 0, Integer.MAX_VALUE);
    pool.setReserveWanted(m.owner(), 0);
    if (pool.pagesHeldBy(m.owner()) > 0) {
      violation("model " + m.owner() + " left holding " + pool.pagesHeldBy(m.owner()) + " pages it did not return");
    }
    pool.refillReserve();
    checked("leave of " + m.owner());
    return this;
  }

  /** Grants up to {@code n} pages (a multiple of {@code unit}) to {@code owner}: none if the pool has fewer than {@code unit}. */
  private List<PhysicalPage> grant(String owner, int n, int unit) {
    int k = Math.min(n, pool.availableTo(owner)) / unit * unit;
    if (k <= 0) return List.of();
    PageAllocation a = pool.acquire(owner, k);
    return a instanceof PageAllocation.Granted g ? g.pages() : List.of();
  }

  private Behavior<Command> onStepped(Stepped m) {
    st.stepSeq++;
    if (policies.traceSteps() > 0) {
      Map<String, Integer> held = new TreeMap<>(pool.holdings());
      if (st.trace.size() == policies.traceSteps()) st.trace.pollFirst();
      st.trace.addLast(new StepTrace.Sample(st.stepSeq, System.nanoTime(), m.owner(), held));
    }
    return this;
  }

  private void checked(String after) {
    if (!policies.checkInvariants()) return;
    st.checks++;
    try {
      pool.checkInvariants();
    } catch (IllegalStateException e) {
      violation("after " + after + ": " + e.getMessage());
    }
  }

  private void violation(String message) {
    if (st.violation.isEmpty()) st.violation = message;
    getContext().getLog().error("Page conservation broken on {}: {}", gpu, message);
  }

  private PoolView view() {
    String invariant = st.violation;
    if (invariant.isEmpty()) {
      try {
        pool.checkInvariants();
      } catch (IllegalStateException e) {
        invariant = e.getMessage();
      }
    }
    return new PoolView(description, pool.budgetBytes(), pool.pageBytes(), pool.capacityPages(), pool.freePages(), pool.reservePages(),
        pool.heldPages(), pool.weightBytes(), new TreeMap<>(pool.holdings()), invariant, st.checks);
  }
}
