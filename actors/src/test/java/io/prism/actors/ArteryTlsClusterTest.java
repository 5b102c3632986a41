package io.prism.actors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.apache.pekko.cluster.typed.Subscribe;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The shipped TLS profile ({@code conf/cluster-3-nodes-tls.conf}) in one JVM: key stores made with
 * {@code keytool} as the README says (a CA, node certificates it signs, a trust store holding the
 * CA); two nodes with CA-signed certificates form a cluster over {@code tls-tcp}; a third node with
 * a self-signed certificate that nobody trusts is never admitted, and a TLS client without a
 * trusted certificate, or without any, is refused by a node's Artery port (mutual authentication).
 */
class ArteryTlsClusterTest {
  private static final Duration FORM_WITHIN = Duration.ofSeconds(60);
  /** How long a refused node is watched for any sign of admission. */
  private static final Duration REFUSED_FOR = Duration.ofSeconds(8);
  private static final String PASSWORD = "test-only-" + Long.toHexString(System.nanoTime()); // made per run, never stored

  @TempDir static Path tls;
  private static final List<ActorSystem<Void>> systems = new ArrayList<>();

  @BeforeAll
  static void makeKeyStores() throws Exception {
    // The README's commands, in four rounds of independent keytool runs (each run is a JVM start).
    String[] ec = {"-keyalg", "EC", "-groupname", "secp256r1", "-validity", "2", "-storetype", "PKCS12", "-storepass", PASSWORD};
    List<String[]> keys = new ArrayList<>();
    // the cluster's CA; each node's key pair; a node with a certificate the cluster's CA does not sign
    keys.add(concat(new String[] {"-genkeypair", "-alias", "ca", "-dname", "CN=Prism test CA", "-ext", "bc:c", "-keystore", "ca.p12"}, ec));
    for (String node : NODES) {
      keys.add(concat(new String[] {"-genkeypair", "-alias", node, "-dname", "CN=" + node, "-keystore", node + ".p12"}, ec));
    }
    keys.add(concat(new String[] {"-genkeypair", "-alias", "rogue", "-dname", "CN=rogue", "-keystore", "rogue.p12"}, ec));
    keytool(keys);
    List<String[]> requests = new ArrayList<>();
    requests.add(new String[] {"-exportcert", "-rfc", "-alias", "ca", "-keystore", "ca.p12", "-storepass", PASSWORD, "-file", "ca.pem"});
    for (String node : NODES) {
      requests.add(new String[] {"-certreq", "-alias", node, "-keystore", node + ".p12", "-storepass", PASSWORD, "-file", node + ".csr"});
    }
    keytool(requests);
    // the trust store every node gets (only the CA's certificate); the CA signs each node's request
    List<String[]> signing = new ArrayList<>();
    signing.add(new String[] {"-importcert", "-noprompt", "-alias", "ca", "-file", "ca.pem", "-keystore", "truststore.p12", "-storetype",
        "PKCS12", "-storepass", PASSWORD});
    for (String node : NODES) {
      signing.add(new String[] {"-gencert", "-rfc", "-alias", "ca", "-keystore", "ca.p12", "-storepass", PASSWORD, "-infile", node + ".csr",
          "-outfile", node + ".pem", "-ext", "san=ip:127.0.0.1", "-validity", "2"});
    }
    keytool(signing);
    // each node's signed certificate goes back into its key store with the chain up to the CA
    List<String[]> replies = new ArrayList<>();
    for (String node : NODES) {
      Files.writeString(tls.resolve(node + "-chain.pem"), Files.readString(tls.resolve(node + ".pem")) + Files.readString(tls.resolve("ca.pem")));
      replies.add(new String[] {"-importcert", "-noprompt", "-alias", node, "-file", node + "-chain.pem", "-keystore", node + ".p12", "-storepass",
          PASSWORD});
    }
    keytool(replies);
  }

  private static final List<String> NODES = List.of("node-1", "node-2");

  private static String[] concat(String[] a, String[] b) {
    String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  /** Runs the keytool commands at once in the key store folder; each must succeed within 120 s. */
  private static void keytool(List<String[]> commands) throws Exception {
    List<Process> running = new ArrayList<>();
    for (String[] args : commands) {
      List<String> cmd = new ArrayList<>();
      cmd.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
      cmd.addAll(List.of(args));
      running.add(new ProcessBuilder(cmd).directory(tls.toFile()).redirectErrorStream(true).start());
    }
    for (int i = 0; i < running.size(); i++) {
      Process p = running.get(i);
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!p.waitFor(120, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        fail("keytool " + commands.get(i)[0] + " did not finish in 120 s");
      }
      assertEquals(0, p.exitValue(), "keytool " + String.join(" ", commands.get(i)).replace(PASSWORD, "***") + ":\n" + out);
    }
  }

  @AfterAll
  static void stop() {
    for (ActorSystem<Void> s : systems) s.terminate();
    for (ActorSystem<Void> s : systems) {
      try {
        s.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
      } catch (Exception e) {
        // reported by the test that needed it
      }
    }
  }

  /** A node configured by the shipped TLS profile, with {@code keyStore}, on a free loopback port, not joined. */
  private static ActorSystem<Void> node(String keyStore) {
    Map<String, Object> local = new HashMap<>();
    local.put("pekko.remote.artery.canonical.hostname", "127.0.0.1");
    local.put("pekko.remote.artery.canonical.port", 0);
    local.put("pekko.cluster.seed-nodes", List.of());
    local.put("pekko.loglevel", "ERROR");
    local.put("pekko.remote.artery.ssl.config-ssl-engine.key-store", tls.resolve(keyStore).toString());
    local.put("pekko.remote.artery.ssl.config-ssl-engine.trust-store", tls.resolve("truststore.p12").toString());
    // what PRISM_TLS_KEY_STORE_PASSWORD / PRISM_TLS_TRUST_STORE_PASSWORD give in production
    local.put("pekko.remote.artery.ssl.config-ssl-engine.key-store-password", PASSWORD);
    local.put("pekko.remote.artery.ssl.config-ssl-engine.key-password", PASSWORD);
    local.put("pekko.remote.artery.ssl.config-ssl-engine.trust-store-password", PASSWORD);
    Config profile = ConfigFactory.parseFile(Path.of("..", "conf", "cluster-3-nodes-tls.conf").toFile());
    Config config = PrismConfig.load(ConfigFactory.parseMap(local).withFallback(profile));
    assertEquals("tls-tcp", config.getString("pekko.remote.artery.transport"));
    assertTrue(config.getBoolean("pekko.remote.artery.ssl.config-ssl-engine.require-mutual-authentication"));
    ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "prism", config);
    systems.add(system);
    return system;
  }

  private static Address address(ActorSystem<?> system) {
    return Cluster.get(system).selfMember().address();
  }

  @Test
  void nodesWithTheClustersCertificatesFormAClusterAndANodeWithoutThemIsRefused() throws Exception {
    ActorSystem<Void> first = node("node-1.p12");
    ActorSystem<Void> second = node("node-2.p12");
    TestProbe<ClusterEvent.MemberEvent> events = TestProbe.create(first);
    Cluster.get(first).subscriptions().tell(Subscribe.create(events.ref(), ClusterEvent.MemberEvent.class));
    Cluster.get(first).manager().tell(Join.create(address(first)));
    Cluster.get(second).manager().tell(Join.create(address(first)));

    Set<Address> up = new HashSet<>();
    long deadline = System.nanoTime() + FORM_WITHIN.toNanos();
    while (up.size() < 2) {
      Duration left = Duration.ofNanos(deadline - System.nanoTime());
      if (left.isNegative()) fail("the two TLS nodes did not both become Up within " + FORM_WITHIN + "; up: " + up);
      ClusterEvent.MemberEvent e = events.receiveMessage(left);
      if (e instanceof ClusterEvent.MemberUp u) up.add(u.member().address());
    }
    assertEquals(Set.of(address(first), address(second)), up);

    // a node whose certificate the cluster's CA did not sign asks to join: nothing about it reaches the members
    ActorSystem<Void> rogue = node("rogue.p12");
    Cluster.get(rogue).manager().tell(Join.create(address(first)));
    events.expectNoMessage(REFUSED_FOR);
    Set<Address> members = new HashSet<>();
    Cluster.get(first).state().getMembers().forEach(m -> members.add(m.address()));
    assertEquals(Set.of(address(first), address(second)), members);
    assertNotEquals(MemberStatus.up(), Cluster.get(rogue).selfMember().status());

    // the reason, seen directly at the first node's Artery port: TLS with a client certificate it does not trust, or none, is refused
    int port = address(first).getPort().orElseThrow();
    assertTrue(refused(port, "rogue.p12"), "a client with a self-signed certificate is refused");
    assertTrue(refused(port, null), "a client without a certificate is refused (mutual authentication)");
  }

  /**
   * Whether a TLS client presenting {@code keyStore} (none if null), trusting the cluster's CA, is
   * refused by the server at {@code port}: a TLS alert or a closed connection during or right after
   * the handshake (TLS 1.3 clients learn of a rejected certificate on their first read). A
   * connection still open after the read timeout is not refused.
   */
  private static boolean refused(int port, String keyStore) throws Exception {
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    KeyStore ks = KeyStore.getInstance("PKCS12");
    if (keyStore == null) {
      ks.load(null, null);
    } else {
      try (InputStream in = Files.newInputStream(tls.resolve(keyStore))) {
        ks.load(in, PASSWORD.toCharArray());
      }
    }
    kmf.init(ks, PASSWORD.toCharArray());
    KeyStore ts = KeyStore.getInstance("PKCS12");
    try (InputStream in = Files.newInputStream(tls.resolve("truststore.p12"))) {
      ts.load(in, PASSWORD.toCharArray());
    }
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(ts);
    SSLContext ctx = SSLContext.getInstance("TLSv1.3");
    ctx.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
    try (SSLSocket socket = (SSLSocket) ctx.getSocketFactory().createSocket()) {
      socket.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
      socket.setSoTimeout(30_000); // only a connection that stays open waits this long
      socket.startHandshake();
      assertTrue(socket.getSession().getPeerPrincipal().getName().startsWith("CN=node-1"), "the server is node-1");
      return socket.getInputStream().read() == -1;
    } catch (SocketTimeoutException e) {
      return false;
    } catch (SSLException e) {
      return true;
    } catch (IOException e) { // connection reset by the server after its alert
      return e.getMessage() != null && e.getMessage().toLowerCase().contains("reset");
    }
  }
}
