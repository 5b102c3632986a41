package io.prism.http.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code prism} command line (picocli), run by the {@code ./prism} launcher at the repository
 * root. Subcommands: {@code serve} (the server), {@code generate} (one prompt on the CPU, streamed to stdout) and {@code bench
 * cpu} (decode throughput of the host forward pass); the server adds its own.
 *
 * <p>Exit codes: 0 success, 1 a failure while running (message on stderr), 2 a usage error.
 */
@Command(
    name = "prism",
    mixinStandardHelpOptions = true,
    version = "prism 0.1.0-SNAPSHOT",
    description = "Prism: multi-LLM serving runtime (Java). Run a subcommand with --help for its options.",
    subcommands = {ServeCommand.class, GenerateCommand.class, BenchCommand.class, CommandLine.HelpCommand.class})
public final class PrismCli implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  /** Entry point: runs the command line and exits with its code. */
  public static void main(String[] args) {
    System.exit(execute(args));
  }

  /** Runs the command line without exiting; returns the exit code. */
  public static int execute(String... args) {
    CommandLine cl = new CommandLine(new PrismCli());
    cl.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
      commandLine.getErr().println("prism: " + (e.getMessage() == null ? e.toString() : e.getMessage()));
      if (System.getenv("PRISM_DEBUG") != null) e.printStackTrace(commandLine.getErr());
      return 1;
    });
    return cl.execute(args);
  }

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }
}
