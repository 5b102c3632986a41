package io.prism.actors.placement;

import io.prism.actors.ModelSpec;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;
import org.apache.pekko.cluster.ddata.LWWMap;
import org.apache.pekko.cluster.ddata.Key;
import org.apache.pekko.cluster.ddata.LWWMapKey;
import org.apache.pekko.cluster.ddata.SelfUniqueAddress;
import org.apache.pekko.cluster.ddata.typed.javadsl.DistributedData;
import org.apache.pekko.cluster.ddata.typed.javadsl.Replicator;
import org.apache.pekko.cluster.ddata.typed.javadsl.ReplicatorMessageAdapter;
import org.slf4j.Logger;

/**
 * The model catalog's replicated copy: every registered {@link ModelSpec}, in a Pekko Distributed
 * Data {@code LWWMap} (key {@link #KEY}) that every node's replicator holds, so a new placement
 * singleton (after its node died or left) knows every model, including those of a lost node, and
 * places them again.
 *
 * <p><b>Consistency.</b> Registrations and deletions are written with {@code WriteMajority}
 * ({@code prism.placement.catalog-timeout}): they are acknowledged only once a majority of the
 * nodes holds them. A write that times out may still have reached some replicas and spreads by
 * gossip; the caller reports it as not stored. A new singleton reads with {@code ReadMajority} and,
 * if that times out (too few nodes), with {@code ReadLocal}. Conflicts (two registrations of one
 * id racing across a singleton hand-over) resolve last-writer-wins.
 *
 * <p><b>Durability.</b> With {@code pekko.cluster.distributed-data.durable.keys = ["prism-catalog"]}
 * (the cluster profiles set it, with {@code durable.lmdb.dir}) each node also keeps the catalog in
 * LMDB, so a restart of the whole cluster finds it again.
 *
 * <p>Values are a small versioned text form of the spec (not Kryo), so a stored catalog stays
 * readable by later versions of Prism. Threading: used only by the singleton actor that owns it.
 */
final class DurableCatalog {
  /** The replicated key. */
  static final Key<LWWMap<String, String>> KEY = LWWMapKey.create("prism-catalog");
  private static final String VERSION = "v2";

  private final ReplicatorMessageAdapter<GlobalPlacementActor.Command, LWWMap<String, String>> replicator;
  private final SelfUniqueAddress self;
  private final Duration timeout;
  private final Logger log;

  DurableCatalog(ReplicatorMessageAdapter<GlobalPlacementActor.Command, LWWMap<String, String>> replicator, SelfUniqueAddress self,
      Duration timeout, Logger log) {
    this.replicator = replicator;
    this.self = self;
    this.timeout = timeout;
    this.log = log;
  }

  /** Builds one for the actor system of {@code replicator}'s owner. */
  static DurableCatalog of(ReplicatorMessageAdapter<GlobalPlacementActor.Command, LWWMap<String, String>> replicator,
      org.apache.pekko.actor.typed.ActorSystem<?> system, Duration timeout, Logger log) {
    return new DurableCatalog(replicator, DistributedData.get(system).selfUniqueAddress(), timeout, log);
  }

  /**
   * Reads the catalog (a majority of replicas, else this node's); {@code loaded} gets the specs by
   * id, in id order (empty if nothing was ever stored).
   */
  void load(Function<Map<String, ModelSpec>, GlobalPlacementActor.Command> loaded) {
    replicator.askGet(r -> new Replicator.Get<>(KEY, new Replicator.ReadMajority(timeout), r), rsp -> {
      if (rsp instanceof Replicator.GetSuccess<LWWMap<String, String>> ok) return loaded.apply(decodeAll(ok.get(KEY)));
      if (rsp instanceof Replicator.NotFound) return loaded.apply(Map.of());
      return GlobalPlacementActor.CatalogReadLocal.INSTANCE;
    });
  }

  /** {@link #load} from this node's replica only (after a majority read failed). */
  void loadLocal(Function<Map<String, ModelSpec>, GlobalPlacementActor.Command> loaded) {
    replicator.askGet(r -> new Replicator.Get<>(KEY, Replicator.readLocal(), r), rsp -> {
      if (rsp instanceof Replicator.GetSuccess<LWWMap<String, String>> ok) return loaded.apply(decodeAll(ok.get(KEY)));
      return loaded.apply(Map.of());
    });
  }

  /** Stores {@code spec} (majority); {@code done} gets whether a majority acknowledged it. */
  void put(ModelSpec spec, Function<Boolean, GlobalPlacementActor.Command> done) {
    String value = encode(spec);
    replicator.askUpdate(r -> new Replicator.Update<>(KEY, LWWMap.create(), new Replicator.WriteMajority(timeout), r,
        m -> m.put(self, spec.id(), value)), rsp -> {
          if (!(rsp instanceof Replicator.UpdateSuccess)) log.warn("Catalog write of {} failed: {}", spec.id(), rsp);
          return done.apply(rsp instanceof Replicator.UpdateSuccess);
        });
  }

  /** Removes model {@code id} (majority); {@code done} gets whether a majority acknowledged it. */
  void remove(String id, Function<Boolean, GlobalPlacementActor.Command> done) {
    replicator.askUpdate(r -> new Replicator.Update<>(KEY, LWWMap.create(), new Replicator.WriteMajority(timeout), r,
        m -> m.remove(self, id)), rsp -> done.apply(rsp instanceof Replicator.UpdateSuccess));
  }

  /** The write timeout. */
  Duration timeout() {
    return timeout;
  }

  private Map<String, ModelSpec> decodeAll(LWWMap<String, String> map) {
    Map<String, ModelSpec> out = new LinkedHashMap<>();
    new java.util.TreeMap<>(map.getEntries()).forEach((id, v) -> {
      try {
        out.put(id, decode(v));
      } catch (RuntimeException e) {
        log.warn("Catalog entry {} cannot be read ({}); skipped", id, e.getMessage());
      }
    });
    return out;
  }

  /**
   * The spec as {@code v2} and its nine fields, URL-encoded, tab-separated (durations ISO-8601; no
   * tokenizer: empty): id, source, tokenizer, TTFT SLO, TPOT SLO, estimated bytes, min pages, max
   * pages, max replicas. ({@code v1} had the first eight.)
   */
  static String encode(ModelSpec s) {
    return String.join("\t", VERSION, enc(s.id()), enc(s.source()), enc(s.tokenizer() == null ? "" : s.tokenizer()), s.ttftSlo().toString(),
        s.tpotSlo().toString(), Long.toString(s.estimatedBytes()), Integer.toString(s.minPages()), Integer.toString(s.maxPages()),
        Integer.toString(s.maxReplicas()));
  }

  /**
   * Reads {@link #encode}'s form, and the {@code v1} form of earlier versions (one replica).
   *
   * @throws IllegalArgumentException if the text is not a spec of a known version
   */
  static ModelSpec decode(String text) {
    String[] f = text.split("\t", -1);
    boolean v1 = f.length == 9 && f[0].equals("v1");
    if (!v1 && (f.length != 10 || !f[0].equals(VERSION))) throw new IllegalArgumentException("not a v1 or " + VERSION + " catalog entry");
    String tokenizer = dec(f[3]);
    return new ModelSpec(dec(f[1]), dec(f[2]), tokenizer.isEmpty() ? null : tokenizer, Duration.parse(f[4]), Duration.parse(f[5]),
        Long.parseLong(f[6]), Integer.parseInt(f[7]), Integer.parseInt(f[8]), v1 ? 1 : Integer.parseInt(f[9]));
  }

  private static String enc(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8);
  }

  private static String dec(String s) {
    return URLDecoder.decode(s, StandardCharsets.UTF_8);
  }
}
