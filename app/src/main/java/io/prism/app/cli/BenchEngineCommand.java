package io.prism.app.cli;

import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code prism bench engine}: the CUDA engine on GPU 0 (issue 4). For each batch size: prefill
 * time, decode ms/step, tokens/s and the ratio to the memory-bandwidth floor (weights + KV bytes
 * read per step over the HBM bandwidth it measures with a device-to-device copy); then, over two
 * rounds, the model's eviction into the pinned host pool (made ahead in the background; its fill
 * rate is printed) against bytes / measured device-to-host bandwidth and its activation against
 * bytes / host-to-device bandwidth; then page map and unmap latency. Delegates to {@code io.prism.cuda.EngineBench}; fails with the
 * driver's error on a machine without a GPU.
 */
@Command(name = "engine", mixinStandardHelpOptions = true, description = "Prefill/decode speed of the CUDA engine against the HBM floor.")
public final class BenchEngineCommand implements Callable<Integer> {
  @Option(names = "--model", defaultValue = "random:llama-3.1-8b", description = "random:NAME or a model file (default: ${DEFAULT-VALUE})")
  String model;

  @Option(names = "--batch", split = ",", defaultValue = "1,8,32,64", description = "batch sizes, each <= 256 (default: ${DEFAULT-VALUE})")
  List<Integer> batches;

  @Option(names = "--prompt", defaultValue = "512", description = "prompt tokens per sequence (default: ${DEFAULT-VALUE})")
  int prompt;

  @Option(names = "--gen", defaultValue = "128", description = "decode steps (default: ${DEFAULT-VALUE})")
  int gen;

  @Option(names = "--profile", description = "also print device time per operation of the forward pass")
  boolean profile;

  @Override
  public Integer call() {
    io.prism.cuda.EngineBench.run(model, batches.stream().mapToInt(Integer::intValue).toArray(), prompt, gen, profile, System.out);
    return 0;
  }
}
