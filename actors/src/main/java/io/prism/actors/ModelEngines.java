package io.prism.actors;

import io.prism.runtime.engine.Device;
import io.prism.runtime.engine.ForwardBackend;
import io.prism.runtime.engine.ModelEngine;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.memory.PagePool;
import io.prism.runtime.model.LoadedModel;

/**
 * Starting a model instance's engine on its device, for {@link ModelActor}: weights accounted in the
 * pool, the KV cache's virtual ranges reserved, the weights put on the device, the engine built on
 * the device's clock, its page limits set and its prefill speed measured (local admission's
 * estimate). Threading: the device's engine thread.
 */
final class ModelEngines {
  private ModelEngines() {}

  /**
   * Starts {@code model} as {@code spec} on {@code runtime}'s device and registers it there.
   *
   * @throws IllegalStateException if the weights do not fit the pool now
   * @throws RuntimeException the device's error if loading fails (everything taken is given back)
   */
  static ModelEngine start(LoadedModel model, ModelSpec spec, GpuRuntime runtime, PrismSettings settings) {
    Device device = runtime.device();
    PagePool pool = runtime.pool();
    String owner = model.id();
    long weightBytes = device.weightBytes(model);
    if (!pool.reserveWeights(owner, weightBytes)) {
      throw new IllegalStateException("not enough free memory on " + runtime.gpu() + " for the weights of " + owner + ": needs "
          + weightBytes + " bytes, " + (long) pool.freePages() * pool.pageBytes() + " free");
    }
    KvCache kv = null;
    ForwardBackend backend = null;
    ModelEngine engine = null;
    try {
      kv = ModelEngine.reserveKvCache(device.memory(), model.config(), settings.engine(), device.kvElementBytes());
      backend = device.load(model, kv);
      engine = new ModelEngine(model, backend, pool, settings.engine(), io.prism.runtime.engine.TokenSampler.HOST, runtime.clock());
      if (spec.minPages() > 0 || spec.maxPages() > 0) pool.setLimits(owner, spec.minPages(), spec.poolMaxPages());
      double prefill = engine.measurePrefillTokensPerSecond();
      runtime.register(model.id(), engine, weightBytes, spec.slo(), prefill);
      return engine;
    } catch (RuntimeException e) {
      if (engine != null) {
        engine.close();
      } else {
        if (backend != null) backend.close();
        if (kv != null) kv.close();
      }
      pool.setLimits(owner, 0, Integer.MAX_VALUE);
      pool.releaseWeights(owner);
      throw e;
    }
  }
}
