package io.prism.app.bench;

import io.prism.runtime.policy.sim.Traces;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * The trace and request-shape options that {@code prism bench replay} and {@code prism plan} share
 * (a picocli mixin): which trace, where its files are, over how many models it is spread, how
 * prompt and output lengths are scaled and capped, and the workload's seed. The options whose
 * defaults differ between the two commands (model mix, rate, duration) stay in each command.
 * Plain fields set by picocli on the command's thread.
 */
final class TraceOptions {
  @Option(names = "--trace", defaultValue = "servegen", description = "servegen, azure-code, azure-conv or mooncake (default: ${DEFAULT-VALUE})")
  String trace;

  @Option(names = "--traces", description = "folder of the trace files (default: ../shared/traces)")
  Path traces;

  @Option(names = "--models", defaultValue = "8", description = "number of models N (default: ${DEFAULT-VALUE})")
  int numModels;

  @Option(names = "--length-scale", defaultValue = "1", description = "multiplies trace prompt and output lengths (default: ${DEFAULT-VALUE})")
  double lengthScale;

  @Option(names = "--max-prompt-tokens", defaultValue = "4096", description = "cap on prompt tokens (default: ${DEFAULT-VALUE})")
  int maxPromptTokens;

  @Option(names = "--max-output-tokens", defaultValue = "1024", description = "cap on output tokens (default: ${DEFAULT-VALUE})")
  int maxOutputTokens;

  @Option(names = "--seed", defaultValue = "1", description = "workload seed (default: ${DEFAULT-VALUE})")
  long seed;

  /** The trace named by {@code --trace}. @throws IllegalArgumentException naming the known ones */
  ReplayWorkload.Source source() {
    return ReplayWorkload.Source.parse(trace);
  }

  /** {@code --traces}, or {@code ../shared/traces}. */
  Path tracesDir() {
    return traces != null ? traces : Traces.defaultDir();
  }
}
