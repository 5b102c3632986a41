package io.prism.runtime.policy;

import java.util.Comparator;
import java.util.List;
import java.util.Locale;

/**
 * When a model with {@code max_replicas > 1} gets another instance, and when it gives one back
 * (beyond the paper: Prism's Algorithm 1 holds one instance per model; this scales a model out when
 * one GPU cannot serve its demand within SLO).
 *
 * <p><b>Signal.</b> Each check looks at the model's instances as their GPUs last reported them
 * ({@link InstanceLoad}): requests queued (waiting at the GPU's admission and in the engine) and the
 * KVPR of the instance's GPU (1/s^2, {@link KvprPlacement}). An instance is <i>overloaded</i> when
 * its queue reaches {@link Limits#overloadQueue} or its GPU's KVPR reaches {@link
 * Limits#overloadKvpr}: requests wait because the GPU does not keep up, or its KV memory cannot hold
 * the demand's tokens within the TPOT SLO. The model is overloaded when <i>every</i> ready instance
 * is (frontends balance by queue length, so one hot instance beside a cool one is a balancing
 * matter, not a capacity one). The model is <i>underloaded</i> when it has several instances, its
 * queued requests together would fit under {@link Limits#underloadQueue} on one instance fewer,
 * and no instance's GPU is above {@link Limits#underloadKvpr}. The low thresholds are below the
 * high ones (hysteresis), so a load between them keeps the instance count.
 *
 * <p><b>Persistence.</b> A condition must hold for {@link Limits#overloadChecks} (resp. {@link
 * Limits#underloadChecks}) consecutive checks ({@link Trend}) before an instance is added (resp.
 * removed); any other check resets the count, and so does a check with an instance still loading
 * (its effect is not visible yet). A model above its {@code maxReplicas} (the limit was lowered)
 * gives an instance back at once.
 *
 * <p><b>Which instance goes.</b> The one on the GPU with the highest KVPR (it relieves the most
 * pressure), ties: fewest requests queued and running, then the highest GPU id.
 *
 * <p>What this does not decide: the churn bounds (the caller passes adds and removals through the
 * same {@link MigrationBudget} cooldown as migrations) and the new instance's GPU ({@link
 * InstanceTarget}). Pure and thread-safe; the trend is state the caller keeps per model.
 */
public final class ReplicaScaling {
  /**
   * @param overloadQueue queued requests at or above which an instance is overloaded ({@code >= 1})
   * @param overloadKvpr GPU KVPR (1/s^2) at or above which an instance is overloaded ({@code > 0};
   *     {@code +Infinity}: queue only)
   * @param overloadChecks consecutive overloaded checks before an instance is added ({@code >= 1})
   * @param underloadQueue queued requests per remaining instance at or below which the model is
   *     underloaded ({@code >= 0}, below {@code overloadQueue})
   * @param underloadKvpr GPU KVPR at or below which an instance counts as underloaded ({@code >= 0},
   *     below {@code overloadKvpr})
   * @param underloadChecks consecutive underloaded checks before an instance is removed ({@code >= 1})
   * @throws IllegalArgumentException naming the bound out of range
   */
  public record Limits(int overloadQueue, double overloadKvpr, int overloadChecks, int underloadQueue, double underloadKvpr, int underloadChecks) {
    /** Defaults: 8 queued or KVPR 0.05 for 3 checks to add; at most 1 queued per instance left and KVPR 0.01 for 6 checks to remove. */
    public static final Limits DEFAULT = new Limits(8, 0.05, 3, 1, 0.01, 6);

    public Limits {
      if (overloadQueue < 1) throw new IllegalArgumentException("overloadQueue must be >= 1, got " + overloadQueue);
      if (!(overloadKvpr > 0)) throw new IllegalArgumentException("overloadKvpr must be > 0, got " + overloadKvpr);
      if (overloadChecks < 1) throw new IllegalArgumentException("overloadChecks must be >= 1, got " + overloadChecks);
      if (underloadQueue < 0 || underloadQueue >= overloadQueue) {
        throw new IllegalArgumentException("underloadQueue must be >= 0 and below overloadQueue " + overloadQueue + ", got " + underloadQueue);
      }
      if (!(underloadKvpr >= 0) || underloadKvpr >= overloadKvpr) {
        throw new IllegalArgumentException("underloadKvpr must be >= 0 and below overloadKvpr " + overloadKvpr + ", got " + underloadKvpr);
      }
      if (underloadChecks < 1) throw new IllegalArgumentException("underloadChecks must be >= 1, got " + underloadChecks);
    }
  }

  /**
   * One instance of the model as its GPU last reported it.
   *
   * @param gpuId the GPU (any stable id)
   * @param ready whether it serves (false: still loading)
   * @param queued requests waiting for it (admission queue and engine)
   * @param running requests in its running batch
   * @param gpuKvpr KVPR of its GPU (1/s^2), {@code >= 0}, may be {@code +Infinity}
   */
  public record InstanceLoad(int gpuId, boolean ready, int queued, int running, double gpuKvpr) {
    public InstanceLoad {
      if (queued < 0 || running < 0) throw new IllegalArgumentException("queued and running must be >= 0, got " + queued + ", " + running);
      if (!(gpuKvpr >= 0)) throw new IllegalArgumentException("gpuKvpr must be >= 0, got " + gpuKvpr);
    }
  }

  /**
   * Consecutive checks that found the model overloaded, or underloaded (at most one of them is non-zero).
   */
  public record Trend(int overloadedChecks, int underloadedChecks) {
    /** No evidence yet: the start, and the state after an instance was added or removed. */
    public static final Trend NONE = new Trend(0, 0);
  }

  /** What to do with the model's instances after one check; {@code trend} is the count after it. */
  public sealed interface Decision {
    Trend trend();

    String reason();
  }

  /** Keep the instances as they are. */
  public record Keep(Trend trend, String reason) implements Decision {}

  /** Add an instance on another GPU ({@link InstanceTarget} picks it). */
  public record AddInstance(Trend trend, String reason) implements Decision {}

  /** Remove the instance on {@code gpuId} (its running requests finish, its queue goes to the others). */
  public record RemoveInstance(int gpuId, Trend trend, String reason) implements Decision {}

  private final Limits limits;

  /** @param limits the thresholds */
  public ReplicaScaling(Limits limits) {
    this.limits = limits;
  }

  /** The thresholds. */
  public Limits limits() {
    return limits;
  }

  /**
   * One check of a model's instances.
   *
   * @param instances every instance of the model (at least one)
   * @param maxReplicas the most instances the model may have ({@code >= 1})
   * @param trend the model's trend after the previous check ({@link Trend#NONE} at first, and after
   *     the caller carried out an add or a removal)
   * @throws IllegalArgumentException if {@code instances} is empty or {@code maxReplicas < 1}
   */
  public Decision decide(List<InstanceLoad> instances, int maxReplicas, Trend trend) {
    if (instances.isEmpty()) throw new IllegalArgumentException("a model has at least one instance");
    if (maxReplicas < 1) throw new IllegalArgumentException("maxReplicas must be >= 1, got " + maxReplicas);
    int n = instances.size();
    if (n > maxReplicas) {
      InstanceLoad victim = victim(instances);
      return new RemoveInstance(victim.gpuId(), Trend.NONE, n + " instances exceed max_replicas " + maxReplicas);
    }
    if (instances.stream().anyMatch(i -> !i.ready())) return new Keep(Trend.NONE, "an instance is loading");
    boolean overloaded = instances.stream().allMatch(i -> i.queued() >= limits.overloadQueue() || i.gpuKvpr() >= limits.overloadKvpr());
    int queued = instances.stream().mapToInt(InstanceLoad::queued).sum();
    double hottest = instances.stream().mapToDouble(InstanceLoad::gpuKvpr).max().orElse(0);
    if (overloaded) {
      Trend t = new Trend(trend.overloadedChecks() + 1, 0);
      String why = String.format(Locale.ROOT, "every instance overloaded (%d queued on %d, KVPR up to %.4g) for %d checks", queued, n, hottest,
          t.overloadedChecks());
      if (n >= maxReplicas) return new Keep(t, why + "; at max_replicas " + maxReplicas);
      if (t.overloadedChecks() >= limits.overloadChecks()) return new AddInstance(t, why);
      return new Keep(t, why + " (of " + limits.overloadChecks() + ")");
    }
    boolean underloaded = n > 1 && queued <= limits.underloadQueue() * (n - 1) && hottest <= limits.underloadKvpr();
    if (underloaded) {
      Trend t = new Trend(0, trend.underloadedChecks() + 1);
      String why = String.format(Locale.ROOT, "%d queued and KVPR up to %.4g fit on %d instances for %d checks", queued, hottest, n - 1,
          t.underloadedChecks());
      if (t.underloadedChecks() >= limits.underloadChecks()) return new RemoveInstance(victim(instances).gpuId(), t, why);
      return new Keep(t, why + " (of " + limits.underloadChecks() + ")");
    }
    return new Keep(Trend.NONE, "load within bounds");
  }

  private static InstanceLoad victim(List<InstanceLoad> instances) {
    return instances.stream().max(Comparator.comparingDouble(InstanceLoad::gpuKvpr)
        .thenComparing(i -> -(i.queued() + i.running())).thenComparingInt(InstanceLoad::gpuId)).orElseThrow();
  }
}
