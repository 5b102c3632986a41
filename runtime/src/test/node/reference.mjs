// Writes the reference token ids of a fixed set of chat conversations, rendered with each shared
// tokenizer's own chat template, for ChatTemplateReferenceTest.
//
// Reference implementation, as Hugging Face transformers' apply_chat_template does it: the template
// (tokenizer_config.json chat_template; "tool_use" from a named list when tools are given, else
// "default") rendered by @huggingface/jinja with messages, tools, documents, add_generation_prompt
// and the special tokens (bos_token, eos_token, unk_token, pad_token) as variables; the text then
// tokenized by @lenml/tokenizers (a port of transformers.js's tokenizers) with
// add_special_tokens = false. (@lenml/tokenizers' own apply_chat_template bundles an older Jinja
// that cannot parse Qwen3's template, hence the newer @huggingface/jinja here.)
//
// Run from this directory (Node 20):
//   npm install && node reference.mjs ../../../../../shared/tokenizers ../resources/chat/reference-tokens.json
// The tokenizer files are read from the shared data beside the repository and never copied into it.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TokenizerLoader } from "@lenml/tokenizers";
import { Template } from "@huggingface/jinja";

const [sharedDir, outFile] = process.argv.slice(2);
if (!sharedDir || !outFile) {
  console.error("usage: node reference.mjs <shared/tokenizers dir> <output json>");
  process.exit(2);
}

const weatherTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Current weather in a city",
    parameters: {
      type: "object",
      properties: { city: { type: "string", description: "City name, e.g. Paris" }, unit: { type: "string", enum: ["C", "F"] } },
      required: ["city"],
    },
  },
};
const timeTool = {
  type: "function",
  function: { name: "get_time", description: "Local time in a time zone", parameters: { type: "object", properties: { tz: { type: "string" } } } },
};
const call = (id, name, args) => ({ id, type: "function", function: { name, arguments: JSON.stringify(args) } });

// Each: name, messages, tools (or null), add_generation_prompt, extra template variables.
const conversations = [
  { name: "user-only-prompt", messages: [{ role: "user", content: "Hello! Who are you?" }], add_generation_prompt: true },
  { name: "user-only-no-prompt", messages: [{ role: "user", content: "Hello! Who are you?" }], add_generation_prompt: false },
  {
    name: "system-user-prompt",
    messages: [
      { role: "system", content: "You are a terse assistant." },
      { role: "user", content: "Name three primes." },
    ],
    add_generation_prompt: true,
  },
  {
    name: "multi-turn-prompt",
    messages: [
      { role: "system", content: "You are helpful." },
      { role: "user", content: "What is 2 + 2?" },
      { role: "assistant", content: "2 + 2 = 4." },
      { role: "user", content: "And times 3?\nShow the steps." },
    ],
    add_generation_prompt: true,
  },
  {
    name: "multi-turn-ends-with-assistant",
    messages: [
      { role: "user", content: "Say hi." },
      { role: "assistant", content: "Hi!" },
      { role: "user", content: "  Again, with spaces around.  " },
      { role: "assistant", content: "Hi again!" },
    ],
    add_generation_prompt: false,
  },
  {
    name: "multibyte-text",
    messages: [
      { role: "system", content: "Réponds en français, s'il te plaît." },
      { role: "user", content: "你好，世界！日本語も？ 👋🏽🚀 naïve café — “quotes” ☕" },
    ],
    add_generation_prompt: true,
  },
  {
    name: "tools-prompt",
    messages: [
      { role: "system", content: "Use tools when useful." },
      { role: "user", content: "What's the weather in Paris?" },
    ],
    tools: [weatherTool, timeTool],
    add_generation_prompt: true,
  },
  {
    name: "tool-call-round-trip",
    messages: [
      { role: "user", content: "Weather in Paris and Tokyo?" },
      { role: "assistant", content: null, tool_calls: [call("call_1", "get_weather", { city: "Paris" })] },
      { role: "tool", tool_call_id: "call_1", name: "get_weather", content: "{\"temp\": 18, \"unit\": \"C\"}" },
      { role: "assistant", content: "It is 18 °C in Paris." },
      { role: "user", content: "Thanks" },
    ],
    tools: [weatherTool],
    add_generation_prompt: true,
  },
  {
    // Qwen3's template reads the content of every assistant message: "" where DeepSeek-V3's wants null
    name: "tool-call-empty-content",
    messages: [
      { role: "system", content: "Use tools when useful." },
      { role: "user", content: "Time in Tokyo?" },
      { role: "assistant", content: "", tool_calls: [call("call_9", "get_time", { tz: "Asia/Tokyo" })] },
      { role: "tool", tool_call_id: "call_9", name: "get_time", content: "21:04" },
    ],
    tools: [timeTool],
    add_generation_prompt: true,
  },
  {
    name: "thinking-history",
    messages: [
      { role: "user", content: "Is 7 prime?" },
      { role: "assistant", content: "<think>\nCheck divisors 2..sqrt(7).\n</think>\n\nYes, 7 is prime." },
      { role: "user", content: "Is 9 prime?" },
    ],
    add_generation_prompt: true,
  },
  {
    name: "thinking-disabled",
    messages: [{ role: "user", content: "Quick answer: capital of Italy?" }],
    add_generation_prompt: true,
    variables: { enable_thinking: false },
  },
];

const out = { generator: "runtime/src/test/node/reference.mjs", reference: "@huggingface/jinja render + @lenml/tokenizers encode, add_special_tokens=false", tokenizers: {} };
for (const name of ["qwen3", "deepseek-v3"]) {
  const dir = join(sharedDir, name);
  const config = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
  const tokenizer = TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8")),
    tokenizerConfig: config,
  });
  const special = {};
  for (const key of ["bos_token", "eos_token", "unk_token", "pad_token"]) {
    const v = config[key];
    const text = typeof v === "string" ? v : v && typeof v.content === "string" ? v.content : null;
    if (text !== null) special[key] = text;
  }
  const pick = (tools) => {
    const t = config.chat_template;
    if (typeof t === "string") return t;
    const named = Object.fromEntries(t.map((e) => [e.name, e.template]));
    return tools && named.tool_use ? named.tool_use : named.default;
  };
  const cases = [];
  for (const c of conversations) {
    // content null becomes "" before rendering, as vLLM's chat parsing and Prism's HTTP layer
    // (RequestParser.chatInput) do: the official clients send an assistant tool-call message back with
    // content null, which Python's Jinja cannot concatenate
    const messages = c.messages.map((m) => (m.content === null || m.content === undefined ? { ...m, content: "" } : m));
    const entry = { name: c.name, messages: c.messages, tools: c.tools ?? null, add_generation_prompt: c.add_generation_prompt, variables: c.variables ?? {} };
    try {
      const template = new Template(pick(c.tools));
      entry.text = template.render({
        messages,
        tools: c.tools ?? null,
        documents: null,
        add_generation_prompt: c.add_generation_prompt,
        ...special,
        ...(c.variables ?? {}),
      });
      entry.ids = Array.from(tokenizer.encode(entry.text, { add_special_tokens: false }));
    } catch (e) {
      entry.error = String(e.message ?? e);
    }
    cases.push(entry);
  }
  out.tokenizers[name] = cases;
}
writeFileSync(outFile, JSON.stringify(out, null, 1) + "\n");
console.log("wrote " + outFile);
