package io.prism.actors.gpu;

import io.prism.actors.GpuId;
import io.prism.actors.model.ModelActor;
import io.prism.actors.model.ModelReport;
import io.prism.actors.pool.PagePoolActor;
import io.prism.actors.pool.PoolView;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.LongSupplier;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * A short-lived child of a {@link GpuActor} that puts one {@link GpuStatus} together from the
 * actors that own its parts: first every model actor's {@link ModelReport}, then the page pool
 * actor's {@link PoolView}. Models answer first because a model sends the pages it returns before
 * its report, so the pool's view, asked afterwards, already counts them: at quiescence the pool's
 * held pages equal the sum of the models'. A part that does not answer within {@code timeout} is
 * reported as such (the device turns unhealthy in that status); the gatherer always answers its
 * parent ({@link GpuActor.StatusGathered}) and stops.
 */
final class GpuStatusGatherer {
  private sealed interface Msg {}

  private record FromModel(ModelReport report) implements Msg {}

  private record FromPool(PoolView view) implements Msg {}

  private enum Timeout implements Msg {
    INSTANCE
  }

  private GpuStatusGatherer() {}

  /**
   * @param models the model actors to ask, by model id
   * @param replyTo passed through to the parent with the status (null: the parent's own report)
   */
  static Behavior<Object> create(GpuId gpu, long incarnation, Map<String, ActorRef<ModelActor.Command>> models, ActorRef<PagePoolActor.Command> pool,
      LongSupplier clock, Duration timeout, ActorRef<GpuActor.Command> parent, ActorRef<GpuStatus> replyTo) {
    return Behaviors.<Object>setup(ctx -> Behaviors.withTimers(timers -> {
      timers.startSingleTimer(Timeout.INSTANCE, timeout);
      Map<String, ModelReport> reports = new TreeMap<>();
      for (ActorRef<ModelActor.Command> m : models.values()) m.tell(new ModelActor.GetStatus(ctx.messageAdapter(ModelReport.class, r -> new FromModel(r))));
      if (models.isEmpty()) pool.tell(new PagePoolActor.Snapshot(ctx.messageAdapter(PoolView.class, FromPool::new)));
      boolean[] askedPool = {models.isEmpty()};
      return Behaviors.receive(Object.class)
          .onMessage(FromModel.class, m -> {
            reports.put(m.report().status().modelId(), m.report());
            if (reports.size() == models.size() && !askedPool[0]) {
              askedPool[0] = true;
              pool.tell(new PagePoolActor.Snapshot(ctx.messageAdapter(PoolView.class, FromPool::new)));
            }
            return Behaviors.same();
          })
          .onMessage(FromPool.class, m -> {
            parent.tell(new GpuActor.StatusGathered(combine(gpu, incarnation, models, reports, m.view(), clock.getAsLong(), ""), replyTo));
            return Behaviors.stopped();
          })
          .onMessageEquals(Timeout.INSTANCE, () -> {
            List<String> missing = new ArrayList<>(models.keySet());
            missing.removeAll(reports.keySet());
            String why = missing.isEmpty() ? "the page pool actor did not answer within " + timeout.toMillis() + " ms"
                : "model actors " + missing + " did not answer within " + timeout.toMillis() + " ms";
            parent.tell(new GpuActor.StatusGathered(combine(gpu, incarnation, models, reports, null, clock.getAsLong(), why), replyTo));
            return Behaviors.stopped();
          })
          .build();
    }));
  }

  private static GpuStatus combine(GpuId gpu, long incarnation, Map<String, ActorRef<ModelActor.Command>> models, Map<String, ModelReport> reports,
      PoolView pool, long nowNanos, String missing) {
    List<GpuStatus.ModelStatus> statuses = new ArrayList<>();
    String problem = missing;
    String violation = pool == null ? "" : pool.invariantViolation();
    long checks = pool == null ? 0 : pool.invariantChecks();
    for (ModelReport r : reports.values()) {
      statuses.add(r.status());
      checks += r.invariantChecks();
      if (violation.isEmpty() && !r.invariantViolation().isEmpty()) violation = r.invariantViolation();
      if (problem.isEmpty() && !r.status().progressing()) problem = "model " + r.status().modelId() + " has made no progress for longer than its stall timeout";
    }
    if (!violation.isEmpty() && problem.isEmpty()) problem = "page conservation broken: " + violation;
    if (pool == null) {
      return new GpuStatus(gpu, "", incarnation, 0, 0, 0, 0, 0, 0, 0, List.copyOf(statuses), violation, false, problem, nowNanos, checks, 0, List.of());
    }
    return new GpuStatus(gpu, pool.description(), incarnation, pool.budgetBytes(), pool.pageBytes(), pool.capacityPages(), pool.freePages(),
        pool.reservePages(), pool.heldPages(), pool.weightBytes(), List.copyOf(statuses), violation, problem.isEmpty(), problem, nowNanos, checks, 0,
        List.of());
  }
}
