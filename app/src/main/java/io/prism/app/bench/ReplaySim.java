package io.prism.app.bench;

import io.prism.runtime.policy.Slo;
import io.prism.runtime.policy.sim.GpuProfile;
import io.prism.runtime.policy.sim.SimResult;
import io.prism.runtime.policy.sim.Simulator;
import io.prism.runtime.policy.sim.Workload;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.Map;

/**
 * The simulator beside the real run: the same workload (the same requests at the same times), the
 * same SLOs and the same number of GPUs through {@link Simulator} with each policy's {@link
 * ReplayPolicy#sim()} and a {@link GpuProfile} calibrated from the real system ({@link
 * ReplayCalibration#gpuProfile}). Stateless.
 */
final class ReplaySim {
  private ReplaySim() {}

  /** Simulates {@code policy} on {@code workload}. */
  static SimResult simulate(ReplayPolicy policy, Workload workload, Map<String, Slo> slos, GpuProfile gpu, int gpus) {
    return Simulator.run(workload, slos, policy.sim(), gpu, gpus);
  }

  /** Prints the comparison header. */
  static void header(PrintWriter out) {
    out.printf("%-19s %6s %10s %10s %9s %10s %10s %9s%n", "policy", "scale", "real TTFT%", "sim TTFT%", "diff pp", "real both%", "sim both%", "diff pp");
  }

  /** Prints one policy's real and simulated attainment and the differences in percentage points. */
  static void print(PrintWriter out, ReplaySummary real, SimResult sim) {
    out.printf(Locale.ROOT, "%-19s %6.2f %10.2f %10.2f %+9.2f %10.2f %10.2f %+9.2f%n", real.policy(), real.rateScale(), 100 * real.ttftAttainment(),
        100 * sim.ttftAttainment(), 100 * (sim.ttftAttainment() - real.ttftAttainment()), 100 * real.attainment(), 100 * sim.attainment(),
        100 * (sim.attainment() - real.attainment()));
  }
}
