package io.prism.actors.serialization;

import com.esotericsoftware.kryo.KryoException;
import com.esotericsoftware.kryo.Registration;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.util.DefaultClassResolver;
import io.prism.actors.GpuId;
import io.prism.actors.ModelSpec;
import io.prism.actors.PrismMessage;
import io.prism.actors.frontend.GenerateRequest;
import io.prism.actors.frontend.TokenizeRequest;
import io.prism.actors.gpu.GpuEvent;
import io.prism.actors.gpu.GpuStatus;
import io.prism.actors.gpu.ModelBooks;
import io.prism.actors.gpu.StepTrace;
import io.prism.actors.model.ModelActor;
import io.prism.actors.model.ModelReport;
import io.prism.actors.placement.GlobalPlacementActor;
import io.prism.actors.placement.ModelInfo;
import io.prism.actors.placement.PlacementView;
import io.prism.actors.pool.PoolView;
import io.prism.actors.pool.ReclaimResult;
import io.prism.runtime.chat.ChatInput;
import io.prism.runtime.engine.FinishReason;
import io.prism.runtime.engine.GenerationRequest;
import io.prism.runtime.engine.Rejection;
import io.prism.runtime.engine.RequestLimits;
import io.prism.runtime.policy.ModelMemory;
import io.prism.runtime.policy.ModelOutlook;
import io.prism.runtime.policy.ReclaimAction;
import io.prism.runtime.policy.Slo;
import io.prism.runtime.sampling.SamplingParams;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;

/**
 * Kryo class resolver that accepts unregistered classes (Kryo writes their names) but, when
 * reading, refuses any class outside an allow-list, so a peer cannot make this node instantiate an
 * arbitrary class by naming it (the usual risk of {@code setRegistrationRequired(false)}: gadget
 * chains through a comparator, a proxy or a collection that calls methods of its elements).
 *
 * <p>Allowed, and nothing else:
 * <ul>
 *   <li>Prism's messages: classes implementing {@link PrismMessage} that are not node-local
 *       ({@link NoSerializationVerificationNeeded}: they carry devices, pages or loaded models);
 *   <li>the Prism value types those messages carry ({@link #PRISM_VALUE_TYPES}, listed; records
 *       and enums read through their canonical constructors and constants), with the permitted
 *       subclasses of the sealed ones ({@link Rejection}, {@link ReclaimAction});
 *   <li>the JDK types they use ({@link #JDK_TYPES}): boxed primitives and {@code String}, {@code
 *       Duration} and {@code Instant}, the mutable collections {@code ArrayList}, {@code HashMap},
 *       {@code LinkedHashMap}, {@code TreeMap}, {@code HashSet}, {@code LinkedHashSet}, {@code
 *       TreeSet}, and the immutable ones of {@code List.of} / {@code List.copyOf} / {@code
 *       Stream.toList}, {@code Set.of}, {@code Map.of}, {@code Collections.empty*} / {@code
 *       singleton*} and {@code Arrays.asList} (their exact runtime classes, whatever the JDK names them);
 *   <li>primitives and arrays of allowed types; implementations of Pekko's {@code ActorRef}s
 *       (written by {@link ActorRefSerializers} as a path string and resolved, never instantiated
 *       from the wire).
 * </ul>
 * Before: every class under {@code io.prism.}, {@code java.lang.}, {@code java.util.}, {@code
 * java.time.} and {@code java.math.} (so {@code java.util.PriorityQueue} with any comparator,
 * {@code java.lang.reflect.Proxy}, or Prism's mutable engine classes could be named). A class is
 * loaded without being initialised before it is checked (Kryo's {@code Class.forName(name, false, ...)}).
 *
 * <p>A new message record needs nothing (it implements {@code PrismMessage}); a new value type
 * that a message carries must be added to {@link #PRISM_VALUE_TYPES} ({@code KryoAllowListTest}
 * walks every message's fields and names any type missing here). Thread-safe: the lists are
 * immutable; one resolver per Kryo instance.
 */
final class AllowListClassResolver extends DefaultClassResolver {
  /** Prism types that are not messages but travel inside them (found by walking the messages' fields). */
  static final Set<Class<?>> PRISM_VALUE_TYPES = Set.of(
      GpuId.class, ModelSpec.class, GenerateRequest.class, TokenizeRequest.class,
      GpuEvent.class, GpuStatus.class, GpuStatus.ModelStatus.class, ModelBooks.class, StepTrace.class, StepTrace.Sample.class,
      ModelReport.class, ModelInfo.class, ModelInfo.State.class, PlacementView.class, PlacementView.GpuRow.class,
      PlacementView.MigrationView.class, PlacementView.ModelRow.class, PoolView.class, ReclaimResult.class,
      ChatInput.class, FinishReason.class, GenerationRequest.class, Rejection.Kind.class, RequestLimits.class, SamplingParams.class,
      ModelMemory.class, ModelMemory.RunningSequence.class, ModelOutlook.class, Slo.class,
      ModelActor.Outcome.class, GlobalPlacementActor.MoveProblem.class,
      io.prism.runtime.engine.GeneratedLogprobs.class, io.prism.runtime.engine.GeneratedLogprobs.Candidate.class,
      io.prism.runtime.engine.RequestResumption.class, io.prism.runtime.engine.RequestResumption.Choice.class,
      io.prism.runtime.structured.StructuredOutput.class, io.prism.runtime.structured.ToolCallFormat.class);

  /** Sealed Prism value types whose permitted subclasses are allowed. */
  static final Set<Class<?>> PRISM_SEALED_VALUE_TYPES = Set.of(Rejection.class, ReclaimAction.class,
      io.prism.runtime.structured.OutputConstraint.class);

  /** JDK types that Prism messages use, by their runtime classes. */
  static final Set<Class<?>> JDK_TYPES = Set.of(
      String.class, Boolean.class, Byte.class, Short.class, Character.class, Integer.class, Long.class, Float.class, Double.class,
      Duration.class, Instant.class,
      ArrayList.class, HashMap.class, LinkedHashMap.class, TreeMap.class, HashSet.class, LinkedHashSet.class, TreeSet.class,
      List.of().getClass(), List.of(1).getClass(), List.of(1, 2, 3).subList(0, 1).getClass(), Set.of().getClass(), Set.of(1).getClass(),
      Map.of().getClass(), Map.of(1, 1).getClass(),
      Collections.emptyList().getClass(), Collections.emptySet().getClass(), Collections.emptyMap().getClass(),
      Collections.singletonList(1).getClass(), Collections.singleton(1).getClass(), Collections.singletonMap(1, 1).getClass(),
      Arrays.asList().getClass());

  @Override
  protected Registration readName(Input input) {
    Registration r = super.readName(input);
    if (r != null && !allowed(r.getType())) {
      throw new KryoException("class " + r.getType().getName() + " is not allowed in Prism messages (allowed: PrismMessage records, "
          + "the value types and JDK types listed in AllowListClassResolver, arrays of them and ActorRefs)");
    }
    return r;
  }

  /** Whether instances of {@code type} may be read from the wire. */
  static boolean allowed(Class<?> type) {
    while (type.isArray()) type = type.getComponentType();
    if (type.isPrimitive()) return true;
    if (org.apache.pekko.actor.typed.ActorRef.class.isAssignableFrom(type) || org.apache.pekko.actor.ActorRef.class.isAssignableFrom(type)) {
      return true;
    }
    if (JDK_TYPES.contains(type) || PRISM_VALUE_TYPES.contains(type)) return true;
    if (PrismMessage.class.isAssignableFrom(type)) return !NoSerializationVerificationNeeded.class.isAssignableFrom(type);
    for (Class<?> sealed : PRISM_SEALED_VALUE_TYPES) {
      if (Arrays.asList(sealed.getPermittedSubclasses()).contains(type)) return true;
    }
    return false;
  }
}
