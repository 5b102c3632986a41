package io.prism.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.prism.actors.ModelSpec;
import io.prism.http.security.HttpAuthSettings;
import io.prism.http.security.HttpSecurity;
import io.prism.http.security.ModelRoots;
import io.prism.runtime.model.SharedModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.testkit.TestRoute;
import org.apache.pekko.http.javadsl.testkit.TestRouteResult;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code POST /admin/models} loads files only from the model roots: system files, missing files,
 * {@code ..} escapes and symbolic links out of a root all get the same answer, byte for byte, and
 * register nothing; files under a root (also through a link that stays inside) register.
 */
class ModelRootsRoutesTest extends JUnit5RouteTest {
  private static final HttpSettings SETTINGS =
      new HttpSettings("127.0.0.1", 0, Duration.ofMinutes(1), Duration.ofMinutes(1), Duration.ofSeconds(5), Duration.ofSeconds(5), 4096);
  @TempDir Path tmp;
  private FakeApi api;
  private Path shared;
  private Path root;
  private TestRoute route;

  @BeforeEach
  void setUp() throws Exception {
    api = new FakeApi();
    shared = SharedModels.dir().orElseThrow().toRealPath();
    root = Files.createDirectories(tmp.resolve("models"));
    // roots: the shared models and a scratch root holding links in and out
    ModelRoots roots = ModelRoots.of(List.of(shared, root));
    route = testRoute(new PrismRoutes(api, materializer(), SETTINGS, new PrismMetrics(), new HttpSecurity(HttpAuthSettings.open(), roots)).route());
  }

  private TestRouteResult register(String path, String tokenizer) throws Exception {
    String body = "{\"path\":" + Json.MAPPER.writeValueAsString(path)
        + (tokenizer == null ? "" : ",\"tokenizer\":" + Json.MAPPER.writeValueAsString(tokenizer)) + "}";
    return route.run(HttpRequest.POST("/admin/models").withEntity(ContentTypes.APPLICATION_JSON, body));
  }

  @Test
  void everyPathOutsideTheRootsGetsTheSameAnswerWhetherOrNotItExists() throws Exception {
    Path outsideDir = Files.createDirectories(tmp.resolve("outside"));
    Path outsideModel = Files.copy(SharedModels.file("stories260K.gguf"), outsideDir.resolve("stories260K.gguf"));
    Files.createSymbolicLink(root.resolve("hostname.gguf"), Path.of("/etc/hostname"));
    Files.createSymbolicLink(root.resolve("escape.gguf"), outsideModel);
    Files.createSymbolicLink(root.resolve("etc"), Path.of("/etc"));
    List<String> outside = List.of(
        "/etc/passwd",
        "/etc/hostname",
        "/etc/no-such-file-prism",
        outsideModel.toString(),                                       // a real model, but outside
        root.resolve("../outside/stories260K.gguf").toString(),        // .. escape to a real model
        root + "/../../../../../../../etc/passwd",                     // .. escape to a system file
        root.resolve("hostname.gguf").toString(),                      // link out of the root
        root.resolve("escape.gguf").toString(),                        // link out of the root to a real model
        root.resolve("etc/passwd").toString(),                         // through a linked directory
        root.resolve("etc/no-such-file-prism").toString(),
        root.resolve("missing.gguf").toString(),                       // missing inside a root
        shared + "-evil/stories260K.gguf",                             // a sibling whose name extends a root's
        "relative/../../etc/passwd",
        "bad\u0000path");
    List<String> bodies = new ArrayList<>();
    for (String p : outside) {
      TestRouteResult r = register(p, null);
      r.assertStatusCode(400);
      r.assertHeaderExists("x-should-retry", "false");
      bodies.add(r.entityString());
      JsonNode e = Json.parse(r.entityString()).get("error");
      assertEquals("path", e.get("param").asText(), p);
      assertEquals("model_path_not_allowed", e.get("code").asText(), p);
      assertFalse(r.entityString().contains("passwd") || r.entityString().contains("hostname") || r.entityString().contains("outside"),
          "the answer names nothing of the file: " + r.entityString());
    }
    for (int i = 1; i < bodies.size(); i++) assertEquals(bodies.get(0), bodies.get(i), "same answer for " + outside.get(i));
    // the tokenizer field is held to the same roots
    TestRouteResult t = register("random:stories260K", "/etc/passwd");
    t.assertStatusCode(400);
    assertEquals("tokenizer", Json.parse(t.entityString()).get("error").get("param").asText());
    assertEquals(register("random:stories260K", "/etc/no-such-file-prism").entityString(), t.entityString());
    assertTrue(api.registered.isEmpty(), "nothing registered: " + api.registered);
  }

  @Test
  void filesUnderARootRegisterByTheirCanonicalPath() throws Exception {
    register(shared.resolve("stories260K.gguf").toString(), null);
    Files.createSymbolicLink(root.resolve("linked.gguf"), shared.resolve("stories260K.gguf")); // a link from one root into another
    register(root.resolve("linked.gguf").toString(), null);
    register(shared.resolve("../models/./stories260K.bin").toString(), shared.resolve("tok512.bin").toString());
    assertEquals(3, api.registered.size(), "all three registered: " + api.registered);
    ModelSpec direct = api.registered.get(0);
    assertEquals(shared.resolve("stories260K.gguf").toString(), direct.source());
    ModelSpec linked = api.registered.get(1);
    assertEquals(shared.resolve("stories260K.gguf").toString(), linked.source(), "the link's target is what loads");
    assertEquals("linked", linked.id(), "the id is the name asked for");
    ModelSpec bin = api.registered.get(2);
    assertEquals(shared.resolve("stories260K.bin").toString(), bin.source());
    assertEquals(shared.resolve("tok512.bin").toString(), bin.tokenizer());
  }

  @Test
  void withNoRootOnlyRandomModelsRegister() throws Exception {
    TestRoute none = testRoute(new PrismRoutes(api, materializer(), SETTINGS, new PrismMetrics(),
        new HttpSecurity(HttpAuthSettings.open(), ModelRoots.of(List.of()))).route());
    none.run(HttpRequest.POST("/admin/models").withEntity(ContentTypes.APPLICATION_JSON,
        "{\"path\":" + Json.MAPPER.writeValueAsString(shared.resolve("stories260K.gguf").toString()) + "}")).assertStatusCode(400);
    none.run(HttpRequest.POST("/admin/models").withEntity(ContentTypes.APPLICATION_JSON, "{\"path\":\"random:stories260K\"}"));
    assertEquals(1, api.registered.size());
    assertEquals("random:stories260K", api.registered.get(0).source());
  }
}
