package io.prism.actors.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.actors.ModelSpec;
import io.prism.actors.TestSupport;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.model.ModelWeights;
import java.lang.ref.WeakReference;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The model store shares host weights between the instances of one node while one holds them, and
 * keeps none alive itself: once no instance refers to them they are collected and the next load
 * reads the file again (before, every model ever loaded stayed in host memory for the node's life,
 * beyond the host tier's bound: 20 registered 440 MB models ran a 14 GiB heap out of memory).
 */
class ModelStoreTest {
  private final AtomicInteger reads = new AtomicInteger();
  private final ModelStore store = new ModelStore(spec -> {
    reads.incrementAndGet();
    return ModelStore.fileLoader().load(spec);
  }, Runnable::run);
  private final ModelSpec spec = TestSupport.spec("shared", "stories260K.bin");

  private LoadedModel load() throws Exception {
    return store.load(spec).toCompletableFuture().get(60, TimeUnit.SECONDS);
  }

  @Test
  void aSecondInstanceGetsTheWeightsAnotherStillHoldsAndNoneAreKeptOnceAllLetGo() throws Exception {
    LoadedModel first = load();
    assertNotNull(first.weights());
    LoadedModel second = load();
    assertSame(first.weights(), second.weights(), "read once, shared while held");
    assertEquals(1, reads.get());
    assertTrue(store.holdsWeights(spec));

    WeakReference<ModelWeights> gone = new WeakReference<>(first.weights());
    first = null;
    second = null;
    for (int i = 0; i < 20 && gone.get() != null; i++) {
      System.gc(); // the store must not keep them reachable; a full collection clears weak references
    }
    assertFalse(store.holdsWeights(spec), "the store holds no weights nobody uses");
    LoadedModel third = load();
    assertEquals(2, reads.get(), "read again from the file");
    assertNotNull(third.weights());
  }

  @Test
  void aDeletedModelIsReadAgain() throws Exception {
    LoadedModel held = load();
    store.evict(spec.id());
    LoadedModel again = load();
    assertEquals(2, reads.get());
    assertNotSame(held.weights(), again.weights());
  }
}
