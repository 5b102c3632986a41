package io.prism.actors;

/**
 * Marker for every Prism actor message that may cross nodes. {@code reference.conf} binds it to
 * {@link io.prism.actors.serialization.KryoSerializer}, so a record implementing it needs no further
 * setup; its fields must be records, enums, strings, boxed primitives, arrays, {@code java.util}
 * collections or {@code ActorRef}s.
 *
 * <p>Messages that carry node-local objects (a {@code Device}, a {@code PagePool}, a loaded model)
 * implement {@link org.apache.pekko.actor.NoSerializationVerificationNeeded} instead and are only
 * ever sent between actors of one node.
 */
public interface PrismMessage {}
