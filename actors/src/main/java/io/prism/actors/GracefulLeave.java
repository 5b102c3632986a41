package io.prism.actors;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigValueFactory;
import io.prism.actors.gpu.GpuStatus;
import io.prism.actors.placement.GlobalPlacementActor;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.pekko.Done;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;

/**
 * A node's graceful leave: a task of Pekko's coordinated shutdown, in its first phase ({@code
 * before-service-unbind}), run on SIGTERM (Pekko's JVM shutdown hook), on a cluster leave, or by
 * {@link PrismNode#leave()}:
 *
 * <ol>
 *   <li>{@code GET /ready} answers 503 from now on ({@link #started()}), so load balancers stop
 *       sending; requests that still arrive are served (routed to wherever their model is).
 *   <li>The placement singleton moves every model of this node's GPUs to other GPUs by live
 *       migration ({@link GlobalPlacementActor.DrainNode}): the target loads it, routing flips, the
 *       source finishes its running requests and hands its queued ones to the target.
 *   <li>The task waits until every moving model has left this node's GPUs and the models that stay
 *       (no other GPU can hold them) have nothing queued or running, polling the local GPU actors,
 *       for at most {@code prism.node.drain-timeout}.
 * </ol>
 *
 * Then the later phases unbind HTTP (open streams get until the end of {@code service-requests-done})
 * and the node leaves the cluster; the singleton re-places any model that stayed. A node that is
 * downed (a crash or a partition: {@code ClusterDowningReason}) or closed by {@link
 * PrismNode#close()} does not drain.
 *
 * <p>Threading: the task runs on Pekko's threads; {@link #started()} is safe from any thread.
 */
final class GracefulLeave {
  /** The coordinated-shutdown reason of {@link PrismNode#leave()}. */
  static final CoordinatedShutdown.Reason LEAVE_REASON = new CoordinatedShutdown.Reason() {
    @Override
    public String toString() {
      return "PrismLeave";
    }
  };

  private static final Duration POLL = Duration.ofMillis(200);

  private final PrismNode node;
  private final Address self;
  private final Duration drainTimeout;
  private final AtomicBoolean started = new AtomicBoolean();

  GracefulLeave(PrismNode node, Address self, Duration drainTimeout) {
    this.node = node;
    this.self = self;
    this.drainTimeout = drainTimeout;
  }

  /**
   * {@code config} with the coordinated-shutdown phases the leave spans ({@code
   * before-service-unbind}, {@code service-requests-done}) given {@code prism.node.drain-timeout}
   * plus 10 s, so Pekko does not cut them short.
   */
  static Config withPhaseTimeout(Config config) {
    String t = (config.getDuration("prism.node.drain-timeout").toMillis() + 10_000) + "ms";
    return config.withValue("pekko.coordinated-shutdown.phases.before-service-unbind.timeout", ConfigValueFactory.fromAnyRef(t))
        .withValue("pekko.coordinated-shutdown.phases.service-requests-done.timeout", ConfigValueFactory.fromAnyRef(t));
  }

  /** Adds the drain task to the node's coordinated shutdown. */
  void register() {
    CoordinatedShutdown.get(node.system()).addTask(CoordinatedShutdown.PhaseBeforeServiceUnbind(), "prism-drain", this::drain);
  }

  /** Whether the leave has begun (then the node is not ready). */
  boolean started() {
    return started.get();
  }

  private CompletionStage<Done> drain() {
    ActorSystem<Void> system = node.system();
    Optional<CoordinatedShutdown.Reason> reason = CoordinatedShutdown.get(system).getShutdownReason();
    boolean graceful = reason.isPresent() && (reason.get() == LEAVE_REASON || reason.get() == CoordinatedShutdown.jvmExitReason()
        || reason.get() == CoordinatedShutdown.clusterLeavingReason());
    if (!graceful) return CompletableFuture.completedFuture(Done.getInstance());
    started.set(true);
    if (Cluster.get(system).selfMember().status() != MemberStatus.up() || node.localGpus().isEmpty()) {
      return CompletableFuture.completedFuture(Done.getInstance());
    }
    system.log().info("Leaving the cluster ({}): moving this node's models to other GPUs and draining its requests (at most {} s)", reason.get(),
        drainTimeout.toSeconds());
    long deadline = System.nanoTime() + drainTimeout.toNanos();
    Duration ask = node.settings().askTimeout();
    CompletableFuture<Done> done = new CompletableFuture<>();
    AskPattern.<GlobalPlacementActor.Command, GlobalPlacementActor.DrainStarted>ask(node.placement(),
        r -> new GlobalPlacementActor.DrainNode(self.host().get(), (Integer) self.port().get(), r), ask, system.scheduler())
        .whenComplete((started, err) -> {
          if (err != null) system.log().warn("The placement did not answer the drain of this node ({}); draining local requests only", err.toString());
          Set<String> moving = started == null ? Set.of() : new HashSet<>(started.moving());
          poll(moving, deadline, done);
        });
    return done;
  }

  private void poll(Set<String> moving, long deadline, CompletableFuture<Done> done) {
    ActorSystem<Void> system = node.system();
    node.localGpuStatus(Duration.ofSeconds(2)).whenComplete((list, err) -> {
      String left = err != null ? "the GPUs did not answer: " + err : remaining(list, moving);
      if (left.isEmpty()) {
        system.log().info("Drained: this node's models moved and its requests finished");
        done.complete(Done.getInstance());
      } else if (System.nanoTime() - deadline > 0) {
        system.log().warn("Leaving after prism.node.drain-timeout ({} s) with work left: {}", drainTimeout.toSeconds(), left);
        done.complete(Done.getInstance());
      } else {
        CompletableFuture.delayedExecutor(POLL.toMillis(), TimeUnit.MILLISECONDS).execute(() -> poll(moving, deadline, done));
      }
    });
  }

  /** What keeps the node from leaving yet, or empty: moving models still here, or requests queued or running. */
  private static String remaining(List<GpuStatus> gpus, Set<String> moving) {
    StringBuilder sb = new StringBuilder();
    for (GpuStatus g : gpus) {
      if (g.queued() > 0) sb.append(g.gpu()).append(" has ").append(g.queued()).append(" requests at admission; ");
      for (GpuStatus.ModelStatus m : g.models()) {
        if (moving.contains(m.modelId())) sb.append(m.modelId()).append(" has not left ").append(g.gpu()).append("; ");
        else if (m.waiting() + m.running() > 0) sb.append(m.modelId()).append(" has ").append(m.waiting() + m.running()).append(" requests; ");
      }
    }
    return sb.toString();
  }
}
