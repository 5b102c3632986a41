package io.prism.actors.serialization;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.prism.actors.PrismMessage;
import java.io.IOException;
import java.lang.reflect.Array;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.GenericArrayType;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.lang.reflect.WildcardType;
import java.net.URISyntaxException;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The Kryo allow-list against Prism's whole protocol: every message class of module {@code actors}
 * (found on the class path, not listed by hand) round-trips with a sample value in every field,
 * every type a message declares is allowed, and classes outside the list (JDK gadget classes,
 * Prism's node-local and engine classes, unlisted Prism records) are refused on reading.
 */
class KryoAllowListTest {
  /** A Prism record that is not a message nor a listed value type. */
  record Unlisted(int x) {}

  /** A message that carries anything. */
  record Carrier(Object payload) implements PrismMessage {}

  /** A comparator a gadget chain could use. */
  static final class Gadget implements Comparator<Object>, java.io.Serializable {
    @Override
    public int compare(Object a, Object b) {
      return 0;
    }
  }

  private static ActorTestKit testKit;
  private static Serializer kryo;
  private static ActorRef<Object> ref;

  @BeforeAll
  static void start() {
    testKit = ActorTestKit.create("kryo-allow-list-test");
    kryo = SerializationExtension.get(Adapter.toClassic(testKit.system())).findSerializerFor(new Carrier(null));
    assertEquals(KryoSerializer.IDENTIFIER, kryo.identifier());
    ref = testKit.<Object>createTestProbe().ref();
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  private static Object roundTrip(Object o) throws Exception {
    return kryo.fromBinary(kryo.toBinary(o), scala.Option.empty());
  }

  /** Every class of the directory or jar holding {@link PrismMessage} that may cross nodes. */
  static List<Class<?>> messageClasses() throws IOException, URISyntaxException {
    Path location = Path.of(PrismMessage.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    List<Class<?>> out = new ArrayList<>();
    if (Files.isDirectory(location)) {
      collect(location, out);
    } else {
      try (FileSystem jar = FileSystems.newFileSystem(location)) {
        collect(jar.getPath("/"), out);
      }
    }
    out.sort(Comparator.comparing(Class::getName));
    return out;
  }

  private static void collect(Path root, List<Class<?>> out) throws IOException {
    try (Stream<Path> files = Files.walk(root)) {
      for (Path p : (Iterable<Path>) files::iterator) {
        String rel = root.relativize(p).toString();
        if (!rel.endsWith(".class") || !rel.startsWith("io/prism/")) continue;
        String name = rel.substring(0, rel.length() - ".class".length()).replace('/', '.');
        Class<?> c;
        try {
          c = Class.forName(name, false, PrismMessage.class.getClassLoader());
        } catch (ClassNotFoundException | LinkageError e) {
          continue;
        }
        if (PrismMessage.class.isAssignableFrom(c) && !c.isInterface() && !Modifier.isAbstract(c.getModifiers())
            && !NoSerializationVerificationNeeded.class.isAssignableFrom(c)) {
          out.add(c);
        }
      }
    }
  }

  /** The classes the messages' fields declare, transitively (not into ActorRef type arguments: refs travel as paths). */
  static Set<Class<?>> declaredTypes(List<Class<?>> messages) {
    Set<Class<?>> seen = new LinkedHashSet<>();
    Deque<Type> todo = new ArrayDeque<>(messages);
    while (!todo.isEmpty()) {
      Type t = todo.pop();
      if (t instanceof ParameterizedType pt) {
        todo.push(pt.getRawType());
        if (pt.getRawType() != ActorRef.class && pt.getRawType() != org.apache.pekko.actor.ActorRef.class) {
          todo.addAll(Arrays.asList(pt.getActualTypeArguments()));
        }
        continue;
      }
      if (t instanceof GenericArrayType g) {
        todo.push(g.getGenericComponentType());
        continue;
      }
      if (t instanceof WildcardType w) {
        todo.addAll(Arrays.asList(w.getUpperBounds()));
        continue;
      }
      if (!(t instanceof Class<?> c)) continue;
      while (c.isArray()) c = c.getComponentType();
      if (c.isPrimitive() || !seen.add(c)) continue;
      if (c.isSealed()) {
        for (Class<?> sub : c.getPermittedSubclasses()) if (!NoSerializationVerificationNeeded.class.isAssignableFrom(sub)) todo.push(sub);
      }
      if (!c.getName().startsWith("io.prism.")) continue;
      for (Class<?> k = c; k != null && k != Object.class && k != Record.class && k != Enum.class; k = k.getSuperclass()) {
        for (Field f : k.getDeclaredFields()) if (!Modifier.isStatic(f.getModifiers())) todo.push(f.getGenericType());
      }
    }
    return seen;
  }

  @Test
  void findsTheProtocol() throws Exception {
    List<Class<?>> messages = messageClasses();
    assertTrue(messages.size() >= 100, "messages found: " + messages.size());
    assertTrue(messages.contains(io.prism.actors.placement.GlobalPlacementActor.RegisterModel.class));
    assertFalse(messages.contains(io.prism.actors.model.ModelActor.PagesGranted.class), "node-local messages are not part of it");
  }

  @Test
  void everyTypeAMessageDeclaresIsAllowed() throws Exception {
    List<String> missing = new ArrayList<>();
    for (Class<?> c : declaredTypes(messageClasses())) {
      if (c.isInterface() && !c.isSealed()) {
        // List, Map, ActorRef: their runtime classes are checked by the round trips below
        if (c != List.class && c != Map.class && c != Set.class && c != Collection.class && c != ActorRef.class) missing.add(c.getName() + " (open interface)");
        continue;
      }
      if (c.isSealed() && c.isInterface()) continue; // its permitted subclasses are walked
      if (c == Object.class) {
        missing.add("java.lang.Object (a field of unknown type)");
        continue;
      }
      if (!AllowListClassResolver.allowed(c)) missing.add(c.getName());
    }
    assertTrue(missing.isEmpty(), "types Prism messages declare but the Kryo allow-list refuses (add value types to "
        + "AllowListClassResolver.PRISM_VALUE_TYPES): " + missing);
  }

  @Test
  void everyMessageRoundTripsWithEveryFieldFilled() throws Exception {
    List<String> problems = new ArrayList<>();
    int checked = 0;
    for (Class<?> c : messageClasses()) {
      if (c.isEnum()) {
        for (Object constant : c.getEnumConstants()) assertSame(constant, roundTrip(constant), c.getName());
        checked++;
        continue;
      }
      if (!c.isRecord()) {
        problems.add(c.getName() + ": not a record or an enum");
        continue;
      }
      Object sample = null;
      RuntimeException refusal = null;
      for (int number : new int[] {2, 0}) { // 2 in every number field, else 0 (for records that check sums)
        try {
          sample = sample(c, 0, number);
          break;
        } catch (RuntimeException e) {
          refusal = e;
        }
      }
      if (sample == null) {
        problems.add(c.getName() + ": cannot build a sample (" + refusal + ")");
        continue;
      }
      Object back;
      try {
        back = roundTrip(sample);
      } catch (Exception e) {
        problems.add(c.getName() + ": " + e.getMessage());
        continue;
      }
      if (!deepEquals(sample, back)) problems.add(c.getName() + ": came back different: " + sample + " -> " + back);
      checked++;
    }
    assertTrue(problems.isEmpty(), problems.size() + " problem(s):\n" + String.join("\n", problems));
    assertTrue(checked >= 100, "messages checked: " + checked);
  }

  @Test
  void theJdkCollectionsMessagesUseRoundTrip() throws Exception {
    List<Object> values = List.of(new ArrayList<>(List.of("a", 1)), new HashMap<>(Map.of("k", 2L)), new LinkedHashMap<>(Map.of("k", 2.5)),
        new TreeMap<>(Map.of("b", 1, "a", 2)), new TreeSet<>(Set.of("x", "y")), new LinkedHashSet<>(List.of(1, 2)), List.of(), List.of(1),
        List.of(1, 2, 3), List.of(1, 2, 3).subList(1, 2), Stream.of(1, 2, 3).toList(), Set.of(), Set.of(1), Set.of(1, 2, 3), Map.of(),
        Map.of(1, 2), Map.of(1, 2, 3, 4), List.of(Duration.ofMillis(7), Instant.ofEpochSecond(9)), Arrays.asList(1, null),
        java.util.Collections.emptyList(), java.util.Collections.singletonMap("a", 1));
    for (Object v : values) assertEquals(v, ((Carrier) roundTrip(new Carrier(v))).payload(), v.getClass().getName());
  }

  @Test
  void refusesClassesOutsideTheListOnReading() {
    PriorityQueue<Object> queue = new PriorityQueue<>(new Gadget());
    queue.add("a");
    TreeMap<Object, Object> sorted = new TreeMap<>(new Gadget());
    sorted.put("a", 1);
    Object[] refused = {
        queue,                                                   // JDK gadget class
        sorted,                                                  // allowed collection, unlisted comparator
        new ConcurrentHashMap<>(Map.of("a", 1)),                 // java.util, but not used by messages
        new java.awt.Point(3, 4),                                // outside every package
        new java.math.BigInteger("12345678901234567890"),        // java.math: no longer allowed
        new Unlisted(3),                                         // io.prism, but neither message nor listed value
        new Unlisted[] {new Unlisted(1)},                        // arrays of it too
        new io.prism.actors.model.ModelActor.PagesGranted(List.of(), 0, false)}; // node-local message
    for (Object o : refused) {
      byte[] bytes = kryo.toBinary(new Carrier(o));
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> kryo.fromBinary(bytes, scala.Option.empty()),
          o.getClass().getName());
      assertTrue(e.getMessage().contains("is not allowed in Prism messages"), e.getMessage());
    }
  }

  // ---- samples: a value in every field, so every nested type crosses the wire

  private static Object sample(Type t, int depth, int n) {
    if (depth > 12) throw new IllegalStateException("nesting too deep at " + t);
    if (t instanceof ParameterizedType pt) {
      Class<?> raw = (Class<?>) pt.getRawType();
      Type[] args = pt.getActualTypeArguments();
      if (raw == List.class || raw == Collection.class) return List.of(sample(args[0], depth + 1, n));
      if (raw == Set.class) return Set.of(sample(args[0], depth + 1, n));
      if (raw == Map.class) return Map.of(sample(args[0], depth + 1, n), sample(args[1], depth + 1, n));
      return sample(raw, depth, n);
    }
    if (t instanceof WildcardType w) return sample(w.getUpperBounds()[0], depth, n);
    if (t instanceof GenericArrayType g) {
      Object a = Array.newInstance((Class<?>) (g.getGenericComponentType() instanceof ParameterizedType p ? p.getRawType()
          : g.getGenericComponentType()), 1);
      Array.set(a, 0, sample(g.getGenericComponentType(), depth + 1, n));
      return a;
    }
    Class<?> c = (Class<?>) t;
    if (c == int.class || c == Integer.class) return n;
    if (c == long.class || c == Long.class) return (long) n;
    if (c == double.class || c == Double.class) return n / 4.0;
    if (c == float.class || c == Float.class) return n / 8.0f;
    if (c == boolean.class || c == Boolean.class) return true;
    if (c == short.class || c == Short.class) return (short) 2;
    if (c == byte.class || c == Byte.class) return (byte) 2;
    if (c == char.class || c == Character.class) return 'c';
    if (c == String.class) return "s";
    if (c == Duration.class) return Duration.ofMillis(1500);
    if (c == Instant.class) return Instant.ofEpochMilli(1_700_000_000_000L);
    if (c == ActorRef.class) return ref;
    if (c == org.apache.pekko.actor.ActorRef.class) return Adapter.toClassic(ref);
    if (c == List.class || c == Collection.class) return List.of("s");
    if (c == Map.class) return Map.of("s", 1);
    if (c.isArray()) {
      Object a = Array.newInstance(c.getComponentType(), 2);
      for (int i = 0; i < 2; i++) Array.set(a, i, sample(c.getComponentType(), depth + 1, n));
      return a;
    }
    if (c.isEnum()) return c.getEnumConstants()[c.getEnumConstants().length - 1];
    if (c.isSealed()) {
      RuntimeException last = null;
      for (Class<?> sub : c.getPermittedSubclasses()) {
        if (NoSerializationVerificationNeeded.class.isAssignableFrom(sub)) continue;
        try {
          return sample(sub, depth + 1, n);
        } catch (RuntimeException e) {
          last = e;
        }
      }
      throw last != null ? last : new IllegalStateException("no serializable subclass of " + c);
    }
    if (c.isRecord()) return sampleRecord(c, depth, n);
    throw new IllegalStateException("no sample for " + c.getName());
  }

  /**
   * A record with every component filled; if its constructor refuses that (alternatives such as
   * "exactly one of prompt, tokens and chat"), the same with one, then two, reference components null.
   */
  private static Object sampleRecord(Class<?> c, int depth, int n) {
    RecordComponent[] rc = c.getRecordComponents();
    Class<?>[] types = new Class<?>[rc.length];
    Object[] filled = new Object[rc.length];
    List<Integer> nullable = new ArrayList<>();
    for (int i = 0; i < rc.length; i++) {
      types[i] = rc[i].getType();
      filled[i] = sample(rc[i].getGenericType(), depth + 1, n);
      if (!types[i].isPrimitive()) nullable.add(i);
    }
    Constructor<?> k;
    try {
      k = c.getDeclaredConstructor(types);
      k.setAccessible(true);
    } catch (NoSuchMethodException e) {
      throw new IllegalStateException(e);
    }
    List<int[]> nulls = new ArrayList<>();
    nulls.add(new int[0]);
    for (int a : nullable) nulls.add(new int[] {a});
    for (int a = 0; a < nullable.size(); a++) for (int b = a + 1; b < nullable.size(); b++) nulls.add(new int[] {nullable.get(a), nullable.get(b)});
    Throwable refusal = null;
    for (int[] nulled : nulls) {
      Object[] values = filled.clone();
      for (int i : nulled) values[i] = null;
      try {
        return k.newInstance(values);
      } catch (java.lang.reflect.InvocationTargetException e) {
        refusal = e.getCause();
      } catch (ReflectiveOperationException e) {
        throw new IllegalStateException(e);
      }
    }
    throw new IllegalArgumentException(c.getSimpleName() + " refuses every sample: " + refusal, refusal);
  }

  private static boolean deepEquals(Object a, Object b) {
    if (a == b) return true;
    if (a == null || b == null || a.getClass() != b.getClass() && !(a instanceof Collection && b instanceof Collection)
        && !(a instanceof Map && b instanceof Map)) {
      return false;
    }
    if (a.getClass().isArray()) {
      if (Array.getLength(a) != Array.getLength(b)) return false;
      for (int i = 0; i < Array.getLength(a); i++) if (!deepEquals(Array.get(a, i), Array.get(b, i))) return false;
      return true;
    }
    if (a instanceof Record) {
      try {
        for (RecordComponent rc : a.getClass().getRecordComponents()) {
          var m = rc.getAccessor();
          m.setAccessible(true);
          if (!deepEquals(m.invoke(a), m.invoke(b))) return false;
        }
        return true;
      } catch (ReflectiveOperationException e) {
        fail(e);
      }
    }
    if (a instanceof List<?> la && b instanceof List<?> lb) {
      if (la.size() != lb.size()) return false;
      for (int i = 0; i < la.size(); i++) if (!deepEquals(la.get(i), lb.get(i))) return false;
      return true;
    }
    if (a instanceof Map<?, ?> ma && b instanceof Map<?, ?> mb) {
      if (!ma.keySet().equals(mb.keySet())) return false;
      for (Object k : ma.keySet()) if (!deepEquals(ma.get(k), mb.get(k))) return false;
      return true;
    }
    return a.equals(b);
  }
}
