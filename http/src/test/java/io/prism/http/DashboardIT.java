package io.prism.http;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.ConfigFactory;
import io.prism.runtime.model.SharedModels;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The live dashboard in a real browser: the whole server (two host GPUs, the shared models, an
 * inference and an admin API key) on a free loopback port, headless Chromium loading {@code
 * /dashboard} with the admin key in the URL fragment. The numbers the page renders (each in an
 * element with {@code data-field}) equal those of {@code GET /admin/gpus}: per GPU its free, reserve,
 * held and capacity pages, budget and weights; per model its KV pages held, in use and kept, waiting
 * and running requests, residency, weights; the memory map's segments add up to the budget; the SLO
 * table counts the requests this test sent. A screenshot goes to {@code target/dashboard.png}; without
 * the key the page asks for it. Skipped, saying why, where Chromium is not installed.
 *
 * <p>Each test leaves the server idle (every request ended, its pages back), so the numbers test
 * compares a state that holds still; it also checks that {@code /admin/gpus} was the same before
 * and after the browser ran (else it looks again, at most 3 times).
 */
class DashboardIT {
  private static final String KEY = "sk-prism-dashboard-inference-0123";
  private static final String ADMIN_KEY = "sk-prism-dashboard-admin-456789ab";
  private static final Duration TIMEOUT = Duration.ofSeconds(60);
  private static final Duration BROWSER_LIMIT = Duration.ofSeconds(90);
  /** Page time the browser runs before the DOM is taken: the page polls every 2 s, so 3 polls or more. */
  private static final Duration PAGE_TIME = Duration.ofSeconds(6);
  private static final Path TARGET = Path.of("target");
  private static final Pattern FIELD = Pattern.compile("<(td|span|div)\\b([^>]*\\bdata-field=\"[^\"]*\"[^>]*)>([^<]*)</\\1>");
  private static final Pattern ATTR = Pattern.compile("([\\w-]+)=\"([^\"]*)\"");

  private static PrismServer server;
  private static HttpClient http;
  private static String base;
  private static HeadlessChromium chromium;

  @BeforeAll
  static void start() throws Exception {
    Optional<HeadlessChromium> found = HeadlessChromium.find(TARGET.resolve("chromium"));
    Assumptions.assumeTrue(found.isPresent(), HeadlessChromium.MISSING);
    chromium = found.get();
    server = PrismServer.start(ConfigFactory.parseMap(Map.of(
        "prism.http.port", 0,
        "pekko.remote.artery.canonical.port", 0,
        "prism.http.api-key", KEY,
        "prism.http.admin-api-key", ADMIN_KEY,
        "prism.models.dir", SharedModels.dir().orElseThrow().toString(),
        "prism.http.dashboard.slo-window", "10m", // the requests below stay in the window for the whole test
        "prism.gpu.evict-idle-models", "off", // nothing changes the memory while the browser looks
        "prism.placement.round-interval", "0s")));
    base = "http://127.0.0.1:" + server.port();
    http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();
  }

  @AfterAll
  static void stop() {
    if (server != null) server.close();
  }

  private static HttpResponse<String> send(String method, String path, String key, String body) throws IOException, InterruptedException {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(TIMEOUT);
    if (key != null) b.header("Authorization", "Bearer " + key);
    if (body != null) b.header("Content-Type", "application/json").method(method, HttpRequest.BodyPublishers.ofString(body));
    else b.method(method, HttpRequest.BodyPublishers.noBody());
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  private static JsonNode adminGet(String path) throws IOException, InterruptedException {
    HttpResponse<String> r = send("GET", path, ADMIN_KEY, null);
    assertEquals(200, r.statusCode(), r.body());
    return Json.parse(r.body());
  }

  private static void complete(String model, int n) throws IOException, InterruptedException {
    for (int i = 0; i < n; i++) {
      HttpResponse<String> r = send("POST", "/v1/completions", KEY,
          "{\"model\":\"" + model + "\",\"prompt\":\"Once upon a time\",\"max_tokens\":12,\"temperature\":0}");
      assertEquals(200, r.statusCode(), r.body());
    }
  }

  /** One rendered value: its attributes and its text. */
  private record Field(Map<String, String> attrs, String text) {
    String attr(String name) {
      return attrs.get(name);
    }
  }

  private static List<Field> fields(String dom) {
    List<Field> out = new ArrayList<>();
    Matcher m = FIELD.matcher(dom);
    while (m.find()) {
      Map<String, String> attrs = new HashMap<>();
      Matcher a = ATTR.matcher(m.group(2));
      while (a.find()) attrs.put(a.group(1), unescape(a.group(2)));
      out.add(new Field(attrs, unescape(m.group(3)).strip()));
    }
    return out;
  }

  private static String unescape(String s) {
    return s.replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&nbsp;", "\u00a0").replace("&amp;", "&");
  }

  /** The one field named {@code name} whose attributes include {@code where}. */
  private static Field field(List<Field> fields, String name, Map<String, String> where) {
    List<Field> hits = fields.stream().filter(f -> name.equals(f.attr("data-field")))
        .filter(f -> where.entrySet().stream().allMatch(e -> e.getValue().equals(f.attr("data-" + e.getKey())))).toList();
    assertEquals(1, hits.size(), "one rendered " + name + " with " + where + ", found " + hits);
    return hits.get(0);
  }

  /** What the page is compared on, from {@code GET /admin/gpus}: equal before and after the browser ran means the state held still. */
  private static String projection(JsonNode gpus) {
    StringBuilder b = new StringBuilder();
    for (JsonNode g : gpus.get("data")) {
      b.append(g.get("id")).append(g.get("free_pages")).append(g.get("reserve_pages")).append(g.get("held_pages")).append(g.get("capacity_pages"))
          .append(g.get("weight_bytes")).append(g.get("queued")).append('\n');
      for (JsonNode m : g.get("models")) {
        b.append(' ').append(m.get("id")).append(m.get("pages_held")).append(m.get("pages_kept")).append(m.get("queued")).append(m.get("waiting"))
            .append(m.get("running")).append(m.get("resident")).append(m.get("weight_bytes")).append('\n');
      }
    }
    return b.toString();
  }

  /** Requests of {@code model} in the SLO window now (0 if none), per {@code /admin/dashboard}. */
  private static int windowRequests(String model) throws IOException, InterruptedException {
    for (JsonNode r : adminGet("/admin/dashboard").get("slo")) if (r.get("model").asText().equals(model)) return r.get("requests").asInt();
    return 0;
  }

  @Test
  void thePageRendersTheNumbersOfAdminGpusAndCountsTheRequestsItsNodeServed() throws Exception {
    Map<String, Integer> expected = Map.of("stories260K", windowRequests("stories260K") + 3, "stories260K-gguf", windowRequests("stories260K-gguf") + 2);
    int expectedTotal = adminGet("/admin/dashboard").at("/totals/requests").asInt() + 5;
    complete("stories260K", 3);
    complete("stories260K-gguf", 2);
    // a new SLO for one model: the catalog and the GPU take it, and the GPU lists a "limits" event
    String gguf = SharedModels.dir().orElseThrow().resolve("stories260K.gguf").toString();
    HttpResponse<String> updated = send("POST", "/admin/models", ADMIN_KEY,
        "{\"path\":\"" + gguf + "\",\"id\":\"stories260K-gguf\",\"ttft_slo\":\"20s\",\"tpot_slo\":\"2s\"}");
    assertTrue(updated.statusCode() == 200 || updated.statusCode() == 201, updated.body());
    long deadline = System.nanoTime() + TIMEOUT.toNanos();
    while (!adminGet("/admin/gpus").toString().contains("\"kind\":\"limits\"")) { // the GPU applies it after the catalog answered
      assertTrue(System.nanoTime() < deadline, "the GPU lists the limits event within " + TIMEOUT);
      Thread.onSpinWait();
    }
    String dom = null;
    JsonNode gpus = null;
    for (int attempt = 0; attempt < 3 && dom == null; attempt++) { // the server is idle; a change while the browser ran means look again
      JsonNode before = adminGet("/admin/gpus");
      String d = chromium.dumpDom(base + "/dashboard#key=" + ADMIN_KEY, PAGE_TIME, BROWSER_LIMIT);
      JsonNode after = adminGet("/admin/gpus");
      if (projection(before).equals(projection(after))) {
        dom = d;
        gpus = after;
      }
    }
    assertNotNull(dom, "the GPUs' state held still while the browser ran, in one of 3 tries");
    assertTrue(idle(gpus), "an idle server: " + gpus);
    assertTrue(dom.contains("data-state=\"live\""), "the page is live:\n" + dom);
    Matcher polls = Pattern.compile("data-polls=\"(\\d+)\"").matcher(dom);
    assertTrue(polls.find());
    assertTrue(Integer.parseInt(polls.group(1)) >= 2, "the page polled again (it updates live): " + polls.group(1) + " polls");
    assertFalse(dom.contains(ADMIN_KEY), "the key is neither in the address bar nor in the page");

    List<Field> fields = fields(dom);
    assertEquals(2, gpus.get("data").size());
    int modelsSeen = 0;
    for (JsonNode g : gpus.get("data")) {
      String id = g.get("id").asText();
      Map<String, String> at = Map.of("gpu", id);
      for (String f : List.of("free_pages", "reserve_pages", "held_pages", "capacity_pages", "queued")) {
        assertEquals(g.get(f).asText(), field(fields, f, at).text(), id + " " + f);
      }
      assertEquals(g.get("budget_bytes").asText(), field(fields, "budget_bytes", at).attr("data-bytes"), id);
      assertEquals(g.get("weight_bytes").asText(), field(fields, "weight_bytes", at).attr("data-bytes"), id);
      long pageBytes = g.get("page_bytes").asLong();
      long segments = fields.stream().filter(f -> "segment_bytes".equals(f.attr("data-field")) && id.equals(f.attr("data-gpu")))
          .mapToLong(f -> Long.parseLong(f.attr("data-bytes"))).sum();
      assertEquals(g.get("budget_bytes").asLong(), segments, id + ": the memory map's segments add up to the budget");
      assertEquals(g.get("reserve_pages").asText(), field(fields, "segment_pages", Map.of("gpu", id, "kind", "reserve")).text());
      for (JsonNode m : g.get("models")) {
        modelsSeen++;
        Map<String, String> mat = Map.of("gpu", id, "model", m.get("id").asText());
        for (String f : List.of("pages_held", "pages_in_use", "pages_kept", "running")) {
          assertEquals(m.get(f).asText(), field(fields, f, mat).text(), mat + " " + f);
        }
        assertEquals(String.valueOf(m.get("queued").asInt() + m.get("waiting").asInt()), field(fields, "waiting", mat).text(), mat + " waiting");
        assertEquals(m.get("resident").asText(), field(fields, "resident", mat).attr("data-value"), mat + " resident");
        assertEquals(m.get("weight_bytes").asText(), field(fields, "model_weight_bytes", mat).attr("data-bytes"), mat + " weights");
        if (m.get("pages_held").asInt() > 0) {
          Field kv = field(fields, "segment_bytes", Map.of("gpu", id, "kind", "kv", "model", m.get("id").asText()));
          assertEquals(m.get("pages_held").asLong() * pageBytes, Long.parseLong(kv.attr("data-bytes")), mat + " KV segment");
        }
      }
    }
    assertEquals(2, modelsSeen, "both models are on the page");

    // SLO attainment: the page counts exactly the requests sent above (and before), as /admin/dashboard does
    JsonNode slo = adminGet("/admin/dashboard").get("slo");
    for (Map.Entry<String, Integer> sent : expected.entrySet()) {
      JsonNode row = null;
      for (JsonNode r : slo) if (r.get("model").asText().equals(sent.getKey())) row = r;
      assertNotNull(row, sent.getKey() + " in " + slo);
      assertEquals(sent.getValue().intValue(), row.get("requests").asInt(), row.toString());
      Map<String, String> at = Map.of("model", sent.getKey());
      assertEquals(String.valueOf(sent.getValue()), field(fields, "requests", at).text());
      assertTrue(field(fields, "both_met", at).text().startsWith(row.get("both_met").asText() + " ("), field(fields, "both_met", at).text());
    }
    assertEquals(String.valueOf(expectedTotal), field(fields, "requests", Map.of("scope", "total")).text());
    assertEquals("20.00 s", field(fields, "ttft_slo_ms", Map.of("model", "stories260K-gguf")).text(), "the new SLO");

    // recent events: the page lists those of /admin/dashboard, the SLO change among them
    int events = adminGet("/admin/dashboard").get("events").size();
    Matcher li = Pattern.compile("<li data-kind=\"([^\"]+)\"[^>]*>(.*?)</li>").matcher(dom);
    List<String> listed = new ArrayList<>();
    while (li.find()) listed.add(li.group(1) + " " + li.group(2).replaceAll("<[^>]+>", ""));
    assertEquals(events, listed.size(), listed.toString());
    assertTrue(listed.stream().anyMatch(e -> e.startsWith("limits ") && e.contains("stories260K-gguf") && e.contains("20000/2000 ms")), listed.toString());
  }

  @Test
  void aScreenshotOfThePageUnderLoadIsWrittenToTargetAndEveryPageComesBackAfter() throws Exception {
    complete("stories260K", 1);
    // long streams running while the browser looks, so the picture shows KV pages in use and a batch; read to their end
    String body = "{\"model\":\"stories260K-gguf\",\"prompt\":\"Once upon a time\",\"max_tokens\":2000,\"ignore_eos\":true,\"stream\":true}";
    List<CompletableFuture<HttpResponse<String>>> streams = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      streams.add(http.sendAsync(HttpRequest.newBuilder(URI.create(base + "/v1/completions")).timeout(TIMEOUT)
          .header("Authorization", "Bearer " + KEY).header("Content-Type", "application/json")
          .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString()));
    }
    long started = System.nanoTime() + TIMEOUT.toNanos();
    while (!streams.stream().allMatch(CompletableFuture::isDone) && idle(adminGet("/admin/gpus"))) { // until they run (or are already done)
      assertTrue(System.nanoTime() < started, "the streams started within " + TIMEOUT);
      Thread.onSpinWait();
    }
    Path png = TARGET.resolve("dashboard.png");
    chromium.screenshot(base + "/dashboard#key=" + ADMIN_KEY, png, 1400, 1300, PAGE_TIME, BROWSER_LIMIT);
    assertTrue(Files.isRegularFile(png), png + " written");
    byte[] bytes = Files.readAllBytes(png);
    assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}, Arrays.copyOf(bytes, 8), "a PNG");
    ByteBuffer ihdr = ByteBuffer.wrap(bytes, 16, 8);
    assertEquals(1400, ihdr.getInt(), "width");
    assertEquals(1300, ihdr.getInt(), "height");
    assertTrue(bytes.length > 20_000, "a drawn page, not a blank one: " + bytes.length + " bytes");
    for (CompletableFuture<HttpResponse<String>> f : streams) {
      HttpResponse<String> r = f.get(TIMEOUT.toSeconds(), java.util.concurrent.TimeUnit.SECONDS);
      assertEquals(200, r.statusCode(), r.body());
      assertTrue(r.body().strip().endsWith("data: [DONE]"), "the stream ran to its end");
      assertFalse(r.body().contains("\"error\""), "no error frame");
    }
    // every request ended and its pages went back: the next look at the page sees an idle server
    long deadline = System.nanoTime() + TIMEOUT.toNanos();
    while (!idle(adminGet("/admin/gpus"))) {
      assertTrue(System.nanoTime() < deadline, "every request ended and its pages came back within " + TIMEOUT);
      Thread.onSpinWait();
    }
  }

  /** No request queued, waiting or running and no page in use by one, on any GPU. */
  private static boolean idle(JsonNode gpus) {
    for (JsonNode g : gpus.get("data")) {
      if (g.get("queued").asInt() != 0) return false;
      for (JsonNode m : g.get("models")) {
        if (m.get("pages_in_use").asInt() + m.get("queued").asInt() + m.get("waiting").asInt() + m.get("running").asInt() != 0) return false;
      }
    }
    return true;
  }

  @Test
  void withoutTheAdminKeyThePageAsksForItAndShowsNoData() throws Exception {
    HttpResponse<String> page = send("GET", "/dashboard", null, null);
    assertEquals(200, page.statusCode(), "the page itself needs no key");
    assertTrue(page.headers().firstValue("content-type").orElse("").startsWith("text/html"));
    assertEquals(DashboardRoutes.CONTENT_SECURITY_POLICY, page.headers().firstValue("content-security-policy").orElse(""));
    assertEquals(401, send("GET", "/admin/dashboard", null, null).statusCode(), "its data does");
    assertEquals(401, send("GET", "/admin/dashboard", KEY, null).statusCode(), "and only with the admin key");

    String dom = chromium.dumpDom(base + "/dashboard", PAGE_TIME, BROWSER_LIMIT);
    assertTrue(dom.contains("data-state=\"auth-needed\""), dom);
    assertTrue(dom.contains("This server needs its admin API key"), dom);
    assertFalse(dom.contains("data-gpu="), "no GPU is drawn");
  }
}
