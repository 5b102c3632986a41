package io.prism.runtime.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.memory.PagePool;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Collects engine events per request and checks the event protocol and invariants as it goes. */
final class EngineHarness {
  /** Everything one request produced. */
  static final class Result {
    final List<Integer> tokens = new ArrayList<>();
    final StringBuilder text = new StringBuilder();
    final List<GeneratedLogprobs> logprobs = new ArrayList<>();
    SequenceEvent.Finished finished;

    @Override
    public String toString() {
      return tokens + " " + (finished == null ? "running" : finished.reason()) + " '" + text + "'";
    }
  }

  /** By request id for choice 0, {@code requestId#choice} for the others. */
  final Map<String, Result> results = new LinkedHashMap<>();
  private final Map<String, Integer> choices = new LinkedHashMap<>();
  private final java.util.Set<String> ended = new java.util.HashSet<>();

  void expect(String requestId) {
    expect(requestId, 1);
  }

  /** Expects {@code n} choices of {@code requestId}. */
  void expect(String requestId, int n) {
    choices.put(requestId, n);
    for (int j = 0; j < n; j++) assertNull(results.put(key(requestId, j), new Result()), "request id reused: " + requestId);
  }

  static String key(String requestId, int choice) {
    return choice == 0 ? requestId : requestId + "#" + choice;
  }

  void accept(List<SequenceEvent> events) {
    for (SequenceEvent e : events) {
      assertFalse(ended.contains(e.requestId()), "event after the request's last Finished: " + e);
      int choice = e instanceof SequenceEvent.Token t ? t.choice() : ((SequenceEvent.Finished) e).choice();
      Result r = results.get(key(e.requestId(), choice));
      assertNotNull(r, "event for an unknown request: " + e);
      assertNull(r.finished, "event after Finished: " + e);
      if (e instanceof SequenceEvent.Token t) {
        assertEquals(r.tokens.size(), t.index(), "token index");
        r.tokens.add(t.tokenId());
        r.text.append(t.text());
        if (t.logprobs() != null) r.logprobs.add(t.logprobs());
      } else {
        SequenceEvent.Finished f = (SequenceEvent.Finished) e;
        r.finished = f;
        r.text.append(f.text());
        int n = choices.get(e.requestId());
        int open = 0, total = 0;
        for (int j = 0; j < n; j++) {
          Result c = results.get(key(e.requestId(), j));
          if (c.finished == null) open++;
          total += c.tokens.size();
        }
        assertEquals(open, f.choicesLeft(), "choices left of " + f);
        if (open == 0) {
          ended.add(e.requestId());
          assertEquals(total, f.completionTokens(), "completion tokens of " + f);
        }
      }
    }
  }

  /** Steps until no work is left, checking invariants after every step. */
  void runToEnd(ModelEngine engine, PagePool pool) {
    for (int i = 0; engine.hasWork(); i++) {
      assertTrue(i < 100_000, "engine does not finish");
      accept(engine.step());
      engine.checkInvariants();
      pool.checkInvariants();
    }
    assertAllFinished();
  }

  void assertAllFinished() {
    for (Map.Entry<String, Result> e : results.entrySet()) {
      assertNotNull(e.getValue().finished, e.getKey() + " never finished");
    }
  }

  /**
   * No work left, no block used, and every page id still held is reclaimable (empty or cache-only);
   * after giving those back the engine holds nothing.
   */
  static void assertNoWorkAndReleasesEveryPage(ModelEngine engine) {
    assertFalse(engine.hasWork());
    assertEquals(0, engine.usedBlocks());
    assertEquals(engine.pageIdsHeld(), engine.emptyPageIds() + engine.cachedPageIds(), "held page ids are empty or cache-only");
    int cached = engine.cachedPageIds();
    int empty = engine.emptyPageIds();
    assertEquals(cached, engine.dropCachedBlocks(Integer.MAX_VALUE));
    assertEquals(empty, engine.releaseEmptyPages(Integer.MAX_VALUE));
    assertEquals(0, engine.pageIdsHeld());
    engine.checkInvariants();
  }
}
