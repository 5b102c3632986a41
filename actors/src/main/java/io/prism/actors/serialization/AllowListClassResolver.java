package io.prism.actors.serialization;

import com.esotericsoftware.kryo.KryoException;
import com.esotericsoftware.kryo.Registration;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.util.DefaultClassResolver;
import java.util.List;

/**
 * Kryo class resolver that accepts unregistered classes (Kryo writes their names) but, when
 * reading, refuses any class outside an allow-list, so a peer cannot make this node instantiate an
 * arbitrary class by naming it (the usual risk of {@code setRegistrationRequired(false)}).
 *
 * <p>Allowed: classes under {@code io.prism.}, the JDK's {@code java.lang.}, {@code java.util.},
 * {@code java.time.} and {@code java.math.} packages, arrays of allowed classes, and implementations
 * of Pekko's {@code ActorRef}s (written by {@link ActorRefSerializers} as a path string).
 */
final class AllowListClassResolver extends DefaultClassResolver {
  private static final List<String> ALLOWED_PREFIXES = List.of("io.prism.", "java.lang.", "java.util.", "java.time.", "java.math.");

  @Override
  protected Registration readName(Input input) {
    Registration r = super.readName(input);
    if (r != null && !allowed(r.getType())) {
      throw new KryoException("class " + r.getType().getName() + " is not allowed in Prism messages; allowed: "
          + ALLOWED_PREFIXES + ", arrays of them and ActorRefs");
    }
    return r;
  }

  /** Whether instances of {@code type} may be read from the wire. */
  static boolean allowed(Class<?> type) {
    while (type.isArray()) type = type.getComponentType();
    if (type.isPrimitive()) return true;
    if (org.apache.pekko.actor.typed.ActorRef.class.isAssignableFrom(type)
        || org.apache.pekko.actor.ActorRef.class.isAssignableFrom(type)) {
      return true;
    }
    String name = type.getName();
    for (String p : ALLOWED_PREFIXES) if (name.startsWith(p)) return true;
    return false;
  }
}
