package io.prism.app.cli;

import io.prism.runtime.engine.Admission;
import io.prism.runtime.engine.GenerationRequest;
import io.prism.runtime.sampling.SamplingParams;
import io.prism.runtime.engine.SequenceEvent;
import io.prism.runtime.forward.HostForwardBackend;
import io.prism.runtime.forward.KernelWarmUp;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.model.ModelLoader;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code prism generate}: loads one model, prefills the prompt (with BOS) and streams the
 * continuation to stdout, one flush per token, through the same {@code ModelEngine} the server
 * uses. stdout gets the prompt followed by the generated text and a final newline, in UTF-8;
 * stderr gets the model line and the speed (prefill and decode tokens per second). The kernels are
 * JIT-warmed on a tiny model while the real one loads ({@link KernelWarmUp#run}).
 *
 * <p>Defaults follow llama2.c's {@code run}: temperature 1.0, top-p 0.9; {@code --temperature 0}
 * is greedy. Generation ends at EOS (or BOS, which ends a llama2.c story), at {@code --max-tokens},
 * or when the context is full ({@code --max-tokens} is lowered to fit it).
 */
@Command(name = "generate", mixinStandardHelpOptions = true, description = "Generate text from a prompt on the CPU.")
public final class GenerateCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--model", required = true, paramLabel = "PATH|random:NAME",
      description = "llama2.c .bin, GGUF file, or random:NAME (stories15M, stories110M, ...)")
  String model;

  @Option(names = "--prompt", defaultValue = "", description = "prompt text (default: empty, BOS only)")
  String prompt;

  @Option(names = "--max-tokens", defaultValue = "256", description = "tokens to generate (default: ${DEFAULT-VALUE})")
  int maxTokens;

  @Option(names = "--temperature", defaultValue = "1.0", description = "0 = greedy (default: ${DEFAULT-VALUE})")
  float temperature;

  @Option(names = "--top-p", defaultValue = "0.9", description = "nucleus mass in (0, 1] (default: ${DEFAULT-VALUE})")
  float topP;

  @Option(names = "--top-k", defaultValue = "0", description = "keep the k most likely tokens; 0 = off (default: ${DEFAULT-VALUE})")
  int topK;

  @Option(names = "--seed", description = "random seed (default: time-based)")
  Long seed;

  @Option(names = "--tokenizer", paramLabel = "PATH", description = "llama2.c tokenizer file (default: the one beside the model with the right vocab size)")
  Path tokenizer;

  @Option(names = "--threads", description = "forward-pass threads (default: available processors)")
  Integer threads;

  @Override
  public Integer call() {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    int nThreads = threads != null ? threads : Runtime.getRuntime().availableProcessors();
    if (nThreads < 1) throw new IllegalArgumentException("--threads must be >= 1, got " + nThreads);
    long loadStart = System.nanoTime();
    // Compile the kernels while the model loads (cold Vector API code is ~100x slower).
    Thread warmUp = new Thread(() -> KernelWarmUp.run(Duration.ofSeconds(3)), "prism-warm-up");
    warmUp.setDaemon(true);
    warmUp.start();
    LoadedModel m = ModelLoader.load(model, tokenizer);
    int[] promptIds = m.tokenizer().encode(prompt, true, false);
    int room = m.config().maxSeqLen() - promptIds.length;
    if (room < 1) throw new IllegalArgumentException("prompt has " + promptIds.length + " tokens; the context is " + m.config().maxSeqLen());
    int n = Math.min(maxTokens, room);
    SamplingParams params = new SamplingParams(temperature, topP, topK, seed != null ? seed : System.nanoTime(), n, List.of(), false);
    err.printf("model %s (%s): dim %d, layers %d, vocab %d; loaded in %.2f s; %d threads%n", m.id(), m.source(),
        m.config().dim(), m.config().numLayers(), m.config().vocabSize(), (System.nanoTime() - loadStart) / 1e9, nThreads);
    err.flush();
    try (HostEngineRig rig = new HostEngineRig(m, 1, promptIds.length + n, nThreads)) {
      joinQuietly(warmUp);
      Admission a = rig.engine.submit(new GenerationRequest("cli", promptIds, params, System.nanoTime()));
      if (a instanceof Admission.Rejected r) throw new IllegalArgumentException(r.reason());
      out.print(prompt);
      out.flush();
      long start = System.nanoTime(), firstToken = 0;
      int generated = 0;
      boolean done = false;
      while (!done) {
        for (SequenceEvent e : rig.engine.step()) {
          if (e instanceof SequenceEvent.Token t) {
            if (generated++ == 0) firstToken = System.nanoTime();
            out.print(t.text());
            out.flush();
          } else if (e instanceof SequenceEvent.Finished f) {
            out.print(f.text());
            done = true;
          }
        }
      }
      long end = System.nanoTime();
      out.println();
      out.flush();
      err.flush();
      double prefillSec = ((generated > 0 ? firstToken : end) - start) / 1e9;
      double decodeSec = (end - firstToken) / 1e9;
      err.printf("prefill: %d tokens in %.3f s (%.1f tok/s)%n", promptIds.length, prefillSec, promptIds.length / prefillSec);
      if (generated > 1) {
        err.printf("decode: %d tokens in %.3f s (%.1f tok/s)%n", generated - 1, decodeSec, (generated - 1) / decodeSec);
      }
      err.printf("achieved tok/s: %.1f%n", generated / ((end - start) / 1e9));
    }
    return 0;
  }

  private static void joinQuietly(Thread t) {
    try {
      t.join();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
