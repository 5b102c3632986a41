package io.prism.actors.serialization;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.Serialization;

/**
 * Kryo serializers for actor references. An {@code ActorRef} is written as its full path with the
 * node address ({@code pekko://prism@10.0.0.7:25520/user/...}) and resolved back to a live ref on
 * the reading node. Without them Kryo would walk the ref's internals (the actor system, the
 * dispatcher ...) and overflow the stack.
 *
 * <p>Threading: stateless apart from the system, safe to share between Kryo instances.
 */
final class ActorRefSerializers {
  private ActorRefSerializers() {}

  /** Typed refs through {@link ActorRefResolver}. */
  static final class Typed extends Serializer<ActorRef<?>> {
    private final ExtendedActorSystem system;
    private volatile ActorRefResolver resolver;

    Typed(ExtendedActorSystem system) {
      this.system = system;
      setImmutable(true);
      setAcceptsNull(false);
    }

    private ActorRefResolver resolver() {
      ActorRefResolver r = resolver;
      if (r == null) {
        r = ActorRefResolver.get(Adapter.toTyped(system));
        resolver = r;
      }
      return r;
    }

    @Override
    public void write(Kryo kryo, Output output, ActorRef<?> ref) {
      output.writeString(resolver().toSerializationFormat(ref));
    }

    @Override
    public ActorRef<?> read(Kryo kryo, Input input, Class<? extends ActorRef<?>> type) {
      return resolver().resolveActorRef(input.readString());
    }
  }

  /** Classic refs through {@link Serialization#serializedActorPath}. */
  static final class Classic extends Serializer<org.apache.pekko.actor.ActorRef> {
    private final ExtendedActorSystem system;

    Classic(ExtendedActorSystem system) {
      this.system = system;
      setImmutable(true);
      setAcceptsNull(false);
    }

    @Override
    public void write(Kryo kryo, Output output, org.apache.pekko.actor.ActorRef ref) {
      output.writeString(Serialization.serializedActorPath(ref));
    }

    @Override
    public org.apache.pekko.actor.ActorRef read(Kryo kryo, Input input, Class<? extends org.apache.pekko.actor.ActorRef> type) {
      return system.provider().resolveActorRef(input.readString());
    }
  }
}
