package io.prism.runtime.engine;

import io.prism.runtime.batching.ContinuousBatcher;
import io.prism.runtime.memory.BlockManager;
import io.prism.runtime.memory.PageSource;
import io.prism.runtime.model.LoadedModel;
import java.util.function.LongSupplier;

/**
 * The consistency checks of a {@link ModelEngine}: its constructor's arguments, and its state's
 * invariants ({@link ModelEngine#checkInvariants()}). Stateless.
 */
final class EngineChecks {
  private EngineChecks() {}

  /**
   * @throws IllegalArgumentException if an argument is null, or the block sizes or vocabulary sizes
   *     disagree
   */
  static void requireCompatible(LoadedModel model, ForwardBackend backend, PageSource pool, EngineOptions options, TokenSampler sampler,
      LongSupplier clockNanos) {
    if (model == null || backend == null || pool == null || options == null || sampler == null || clockNanos == null) {
      throw new IllegalArgumentException("model, backend, pool, options, sampler and clock must not be null");
    }
    if (backend.kvCache().blockSize() != options.blockSize()) {
      throw new IllegalArgumentException("KV cache block size " + backend.kvCache().blockSize() + " != engine block size " + options.blockSize());
    }
    if (model.tokenizer().vocabSize() != model.config().vocabSize()) {
      throw new IllegalArgumentException("tokenizer has " + model.tokenizer().vocabSize() + " tokens, model " + model.config().vocabSize());
    }
  }

  /**
   * Checks the batcher's and block manager's invariants, one request per sequence, and no page
   * ids held while the weights are evicted.
   *
   * @throws IllegalStateException naming the first violation
   */
  static void checkInvariants(LoadedModel model, ForwardBackend backend, ContinuousBatcher batcher, BlockManager blocks,
      RequestLifecycle requests) {
    batcher.checkInvariants();
    blocks.checkInvariants();
    if (batcher.runningCount() + batcher.waitingCount() != requests.states.size()) {
      throw new IllegalStateException(requests.states.size() + " requests for " + (batcher.runningCount() + batcher.waitingCount()) + " sequences");
    }
    if (!backend.weightsResident() && blocks.pageIdsMapped() > 0) {
      throw new IllegalStateException("model " + model.id() + " is evicted but holds " + blocks.pageIdsMapped() + " page ids");
    }
  }
}
