package io.prism.actors.serialization;

import io.prism.actors.PrismMessage;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.KryoException;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import com.esotericsoftware.kryo.serializers.ImmutableCollectionsSerializers;
import com.esotericsoftware.kryo.util.DefaultInstantiatorStrategy;
import com.esotericsoftware.kryo.util.MapReferenceResolver;
import com.esotericsoftware.kryo.util.Pool;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.serialization.JSerializer;
import org.objenesis.strategy.StdInstantiatorStrategy;

/**
 * Pekko serializer for {@link io.prism.actors.PrismMessage}s over Kryo 5 (bound in {@code
 * reference.conf}; identifier {@value #IDENTIFIER}).
 *
 * <p>Policy:
 *
 * <ul>
 *   <li>Registration is not required: Kryo writes the class name of an unregistered class once per
 *       message. Reading is restricted to an allow-list ({@link AllowListClassResolver}), so the wire
 *       cannot name arbitrary classes.
 *   <li>Records go through Kryo's {@code RecordSerializer} (canonical constructor, so compact
 *       constructors validate incoming messages as well); JDK immutable collections ({@code List.of},
 *       {@code List.copyOf}, {@code Map.of}) through Kryo's {@code ImmutableCollectionsSerializers};
 *       other classes through the field serializer, instantiated without calling a constructor.
 *   <li>Typed and classic {@code ActorRef}s are written as their path and resolved on the reading
 *       node ({@link ActorRefSerializers}).
 *   <li>References are tracked, so shared sub-objects stay shared and cycles do not recurse forever.
 * </ul>
 *
 * <p>Threading: Kryo instances are not thread-safe; each call borrows one from a bounded {@link
 * Pool} and returns it, so the serializer may be used from any number of threads.
 */
public final class KryoSerializer extends JSerializer {
  /** Serializer id on the wire; Pekko reserves 0 to 40. */
  public static final int IDENTIFIER = 7_143;

  private static final int POOL_SIZE = 64;
  private static final int INITIAL_BUFFER_BYTES = 1024;

  private final Pool<Kryo> pool;

  /** Called reflectively by Pekko with the actor system that uses it. */
  public KryoSerializer(ExtendedActorSystem system) {
    ActorRefSerializers.Typed typedRefs = new ActorRefSerializers.Typed(system);
    ActorRefSerializers.Classic classicRefs = new ActorRefSerializers.Classic(system);
    this.pool = new Pool<>(true, false, POOL_SIZE) {
      @Override
      protected Kryo create() {
        return newKryo(typedRefs, classicRefs);
      }
    };
  }

  private static Kryo newKryo(ActorRefSerializers.Typed typedRefs, ActorRefSerializers.Classic classicRefs) {
    Kryo kryo = new Kryo(new AllowListClassResolver(), new MapReferenceResolver());
    kryo.setRegistrationRequired(false);
    kryo.setWarnUnregisteredClasses(false);
    kryo.setReferences(true);
    kryo.setInstantiatorStrategy(new DefaultInstantiatorStrategy(new StdInstantiatorStrategy()));
    kryo.setClassLoader(KryoSerializer.class.getClassLoader());
    ImmutableCollectionsSerializers.addDefaultSerializers(kryo);
    kryo.addDefaultSerializer(org.apache.pekko.actor.typed.ActorRef.class, typedRefs);
    kryo.addDefaultSerializer(org.apache.pekko.actor.ActorRef.class, classicRefs);
    return kryo;
  }

  @Override
  public int identifier() {
    return IDENTIFIER;
  }

  /** No manifest: Kryo writes the class itself (checked against the allow-list on read). */
  @Override
  public boolean includeManifest() {
    return false;
  }

  @Override
  public byte[] toBinary(Object o) {
    Kryo kryo = pool.obtain();
    try (Output out = new Output(INITIAL_BUFFER_BYTES, -1)) {
      kryo.writeClassAndObject(out, o);
      return out.toBytes();
    } finally {
      pool.free(kryo);
    }
  }

  @Override
  public Object fromBinaryJava(byte[] bytes, Class<?> manifest) {
    Kryo kryo = pool.obtain();
    try (Input in = new Input(bytes)) {
      return kryo.readClassAndObject(in);
    } catch (KryoException e) {
      throw new IllegalArgumentException("cannot read Prism message (" + bytes.length + " bytes): " + e.getMessage(), e);
    } finally {
      pool.free(kryo);
    }
  }
}
