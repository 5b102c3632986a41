package io.prism.app.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code prism bench}: benchmarks that print numbers (never pass/fail tests). */
@Command(name = "bench", mixinStandardHelpOptions = true, description = "Benchmarks.",
    subcommands = {CpuBenchCommand.class, BenchEngineCommand.class, BalloonBenchCommand.class,
        io.prism.app.bench.ServeBenchCommand.class, io.prism.app.bench.AdmissionBenchCommand.class,
        io.prism.app.bench.PlacementBenchCommand.class, io.prism.app.bench.ReplayBenchCommand.class,
        io.prism.app.bench.ActivationBenchCommand.class, io.prism.app.bench.cluster.FailoverBenchCommand.class})
public final class BenchCommand implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }
}
