package io.prism.runtime.policy.sim;

import java.util.Map;
import java.util.TreeMap;
import java.util.function.IntFunction;

/**
 * The fewest GPUs with which a policy reaches a target SLO attainment in the simulator (what
 * {@code prism plan} answers). Attainment is taken to grow with the GPU count (more GPUs: the same
 * placement problem with more room), so the search doubles the count until the target is met and
 * then bisects between the last miss and the first hit: about {@code 2 log2(answer)} simulations
 * instead of one per count. Every simulated count and its attainment is kept, so a caller can show
 * where the assumption did not hold. Not thread-safe; one search per instance.
 */
public final class GpuCountSearch {
  /**
   * The answer.
   *
   * @param gpus fewest GPUs found meeting the target, or -1 if even {@code maxGpus} does not
   * @param attainment attainment at {@code gpus} (at {@code maxGpus} when not met)
   * @param evaluated every simulated count and its attainment, ascending
   */
  public record Result(int gpus, double attainment, Map<Integer, Double> evaluated) {
    /** Attainment at {@code gpus - 1} if it was simulated, else NaN. */
    public double attainmentOneFewer() {
      Double a = evaluated.get(gpus - 1);
      return a == null ? Double.NaN : a;
    }
  }

  private GpuCountSearch() {}

  /**
   * Searches {@code [1, maxGpus]}.
   *
   * @param attainmentAt simulated attainment (in [0, 1]) on that many GPUs
   * @param target attainment to reach, in (0, 1]
   * @param maxGpus largest count tried, {@code >= 1}
   * @throws IllegalArgumentException if {@code target} or {@code maxGpus} is out of range
   */
  public static Result fewestGpus(IntFunction<Double> attainmentAt, double target, int maxGpus) {
    if (!(target > 0 && target <= 1)) throw new IllegalArgumentException("target attainment must be in (0, 1], got " + target);
    if (maxGpus < 1) throw new IllegalArgumentException("maxGpus must be >= 1, got " + maxGpus);
    Map<Integer, Double> seen = new TreeMap<>();
    IntFunction<Double> at = g -> seen.computeIfAbsent(g, attainmentAt::apply);
    int miss = 0; // largest count known to miss (0: none)
    int hit = -1;
    for (int g = 1; ; g = Math.min(maxGpus, g * 2)) {
      if (at.apply(g) >= target) {
        hit = g;
        break;
      }
      miss = g;
      if (g == maxGpus) break;
    }
    if (hit < 0) return new Result(-1, seen.get(maxGpus), java.util.Collections.unmodifiableMap(new TreeMap<>(seen)));
    while (hit - miss > 1) {
      int mid = (miss + hit) >>> 1;
      if (at.apply(mid) >= target) hit = mid;
      else miss = mid;
    }
    return new Result(hit, seen.get(hit), java.util.Collections.unmodifiableMap(new TreeMap<>(seen)));
  }
}
