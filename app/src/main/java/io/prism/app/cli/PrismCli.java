package io.prism.app.cli;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code prism} command line (picocli), run by the {@code ./prism} launcher at the repository
 * root. Subcommands: {@code serve} (the server), {@code generate} (one prompt on the CPU, streamed to stdout) and {@code bench
 * cpu} (decode throughput of the host forward pass), {@code bench ...} and {@code plan} (GPUs each
 * policy needs, from the simulator); the server adds its own.
 *
 * <p>Exit codes: 0 success, 1 a failure while running (message on stderr), 2 a usage error.
 */
@Command(
    name = "prism",
    mixinStandardHelpOptions = true,
    version = "prism 0.1.0-SNAPSHOT",
    description = "Prism: multi-LLM serving runtime (Java). Run a subcommand with --help for its options.",
    subcommands = {ServeCommand.class, GenerateCommand.class, BenchCommand.class, io.prism.app.bench.PlanCommand.class,
        CommandLine.HelpCommand.class})
public final class PrismCli implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  /** Entry point: runs the command line with UTF-8 stdout and stderr and exits with its code. */
  public static void main(String[] args) {
    CommandLine cl = commandLine();
    cl.setOut(new PrintWriter(new OutputStreamWriter(new FileOutputStream(FileDescriptor.out), StandardCharsets.UTF_8), true));
    cl.setErr(new PrintWriter(new OutputStreamWriter(new FileOutputStream(FileDescriptor.err), StandardCharsets.UTF_8), true));
    System.exit(cl.execute(args));
  }

  /**
   * The configured command line (subcommands, failure handler); subcommands write to its {@code
   * getOut()} and {@code getErr()}, which callers (tests) may replace.
   */
  public static CommandLine commandLine() {
    CommandLine cl = new CommandLine(new PrismCli());
    cl.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
      commandLine.getErr().println("prism: " + (e.getMessage() == null ? e.toString() : e.getMessage()));
      if (System.getenv("PRISM_DEBUG") != null) e.printStackTrace(commandLine.getErr());
      commandLine.getErr().flush();
      return 1;
    });
    return cl;
  }

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }
}
