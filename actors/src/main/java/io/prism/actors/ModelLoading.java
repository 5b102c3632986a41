package io.prism.actors;

import io.prism.runtime.engine.Rejection;
import io.prism.runtime.engine.ModelEngine;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.StashBuffer;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * The loading state of a {@link ModelActor}: waits for the host copy of the model, starts the
 * engine ({@link ModelEngines#start}), reports {@link GpuActor.ModelReady} and becomes the running
 * actor with the requests stashed meanwhile; or, if loading fails, reports {@link
 * GpuActor.ModelLoadFailed}, rejects the stashed requests and stops.
 */
final class ModelLoading {
  private ModelLoading() {}

  static Behavior<ModelActor.Command> loading(ActorContext<ModelActor.Command> ctx, ModelSpec initialSpec, GpuRuntime runtime, PrismSettings settings,
      ActorRef<GpuActor.Command> parent, StashBuffer<ModelActor.Command> stash, TimerScheduler<ModelActor.Command> timers) {
    ModelSpec[] spec = {initialSpec};
    return Behaviors.receive(ModelActor.Command.class)
        .onMessage(ModelActor.Loaded.class, m -> {
          ModelEngine engine;
          try {
            engine = ModelEngines.start(m.model(), spec[0], runtime, settings);
          } catch (RuntimeException e) {
            return failLoad(ctx, spec[0], parent, stash, ModelActor.rootMessage(e));
          }
          GpuRuntime.EngineEntry entry = runtime.entry(spec[0].id());
          parent.tell(new GpuActor.ModelReady(spec[0].id(), m.model().config().maxSeqLen(), entry.weightBytes, entry.prefillTokensPerSecond));
          return stash.unstashAll(new ModelActor(ctx, spec[0], runtime, settings, parent, timers, engine));
        })
        .onMessage(ModelActor.LoadFailed.class, m -> failLoad(ctx, spec[0], parent, stash, m.reason()))
        .onMessageEquals(ModelActor.Shutdown.INSTANCE, Behaviors::stopped)
        .onMessage(ModelActor.UpdateSpec.class, m -> {
          spec[0] = m.spec();
          return Behaviors.same();
        })
        .onMessage(ModelActor.Generate.class, m -> {
          if (stash.isFull()) {
            m.replyTo().tell(new GenerationEvent.Rejected(m.request().requestId(), new Rejection.Overloaded(
                "model '" + spec[0].id() + "' is loading and has " + stash.size() + " requests waiting; retry later", 1)));
          } else {
            stash.stash(m);
          }
          return Behaviors.same();
        })
        .onAnyMessage(m -> {
          if (m instanceof ModelActor.InjectFault f) throw new IllegalStateException("injected fault: " + f.message());
          if (!stash.isFull() && !(m instanceof ModelActor.Step) && !(m instanceof ModelActor.ActivationRetry)) stash.stash(m);
          return Behaviors.same();
        })
        .build();
  }

  private static Behavior<ModelActor.Command> failLoad(ActorContext<ModelActor.Command> ctx, ModelSpec spec, ActorRef<GpuActor.Command> parent,
      StashBuffer<ModelActor.Command> stash, String reason) {
    ctx.getLog().warn("Model {} could not be loaded: {}", spec.id(), reason);
    parent.tell(new GpuActor.ModelLoadFailed(spec.id(), reason));
    stash.forEach(m -> {
      if (m instanceof ModelActor.Generate g) {
        g.replyTo().tell(new GenerationEvent.Rejected(g.request().requestId(), new Rejection.Unavailable(
            "model '" + spec.id() + "' could not be loaded: " + reason)));
      }
    });
    return Behaviors.stopped();
  }

}
