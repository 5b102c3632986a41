package io.prism.app.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.app.cli.PrismCli;
import io.prism.runtime.policy.sim.GpuProfile;
import io.prism.runtime.policy.sim.SimPolicy;
import io.prism.runtime.policy.sim.Simulator;
import io.prism.runtime.policy.sim.SloCalibration;
import io.prism.runtime.policy.sim.Traces;
import io.prism.runtime.policy.sim.Workload;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * {@code prism plan} on a tiny trace: 20 s of the Azure conversation trace at 3 times its rate
 * over four models of 1B and 8B shapes on a deliberately small calibrated profile, so that more
 * than one GPU is needed. Each printed answer is checked against the simulator itself: the target
 * is met with that many GPUs and missed with one fewer.
 */
class PlanCommandTest {
  private static final String[] ARGS = {"plan", "--trace", "azure-conv", "--models", "4", "--model-mix", "random:llama-3.2-1b,random:llama-3.1-8b",
      "--duration", "20s", "--rate-scale", "3", "--sim-profile", "400,50000,2", "--gpu-memory", "20GB", "--attainment", "0.95",
      "--policies", "muxserve++,prism", "--max-gpus", "16"};

  @Test
  void answersTheFewestGpusMeetingTheTargetPerPolicy() {
    StringWriter out = new StringWriter(), err = new StringWriter();
    CommandLine cl = PrismCli.commandLine();
    cl.setOut(new PrintWriter(out, true));
    cl.setErr(new PrintWriter(err, true));
    assertEquals(0, cl.execute(ARGS), err + "\n" + out);

    // the same workload, SLOs and profile, built here
    Workload w = ReplayWorkload.build(new ReplayWorkload.Options(ReplayWorkload.Source.AZURE_CONV, Traces.defaultDir(),
        List.of("random:llama-3.2-1b", "random:llama-3.1-8b"), 4, 5, 3, Duration.ofSeconds(20), 1.0, Duration.ofSeconds(15),
        Duration.ofSeconds(35), 10, 0.375, Duration.ofSeconds(15), Duration.ZERO, 1, 4096, 1024, 2, 1)).workload();
    GpuProfile gpu = new GpuProfile("calibrated", 20_000_000_000L, 400e9, 50000e9, 25e9, 2_000_000L, 5_000_000L);
    var slos = SloCalibration.dedicated(w, gpu, 5, 5);
    for (String policy : List.of("muxserve++", "prism")) {
      Matcher m = Pattern.compile("^" + Pattern.quote(policy) + "\\s+(\\d+)\\s+([\\d.]+)%", Pattern.MULTILINE).matcher(out.toString());
      assertTrue(m.find(), "a row with a GPU count for " + policy + " in\n" + out);
      int gpus = Integer.parseInt(m.group(1));
      SimPolicy sim = ReplayPolicy.named(policy).sim();
      double at = Simulator.run(w, slos, sim, gpu, gpus).attainment();
      assertEquals(Double.parseDouble(m.group(2)), 100 * at, 0.006, policy + ": printed attainment is the simulator's");
      assertTrue(at >= 0.95, policy + " meets the target with " + gpus + " GPUs: " + at);
      if (gpus > 1) assertTrue(Simulator.run(w, slos, sim, gpu, gpus - 1).attainment() < 0.95, policy + " misses it with one fewer");
    }
    assertTrue(out.toString().contains("prism plan: "), out.toString());
  }

  @Test
  void aBadTargetIsAUsageErrorNamingTheOption() {
    StringWriter out = new StringWriter(), err = new StringWriter();
    CommandLine cl = PrismCli.commandLine();
    cl.setOut(new PrintWriter(out, true));
    cl.setErr(new PrintWriter(err, true));
    assertEquals(2, cl.execute("plan", "--attainment", "1.5"));
    assertTrue(err.toString().contains("--attainment must be in (0, 1]"), err.toString());
    assertEquals(2, cl.execute("plan", "--sim-profile", "1,2,3"));
    assertTrue(err.toString().contains("--sim-profile needs --gpu-memory"), err.toString());
  }
}
