// Drives a running Prism server through the official openai npm client (openai@6.49.0, pinned in
// package.json) the way an application would, and checks what comes back.
//
//   cd http/src/test/node && npm ci && node check.mjs http://127.0.0.1:8000 [model]
//
// The model (default: the first of GET /v1/models) needs a chat template that knows tools (Qwen3's,
// for instance); random weights are fine: every check holds for any weights. Checks: chat and
// completions streamed and not (same seed, same text; usage in the last chunk with include_usage),
// logprobs/top_logprobs on both (greedy tokens carry the top logprob, top probabilities never sum
// above 1, streamed values equal the unstreamed ones), n = 2 streamed and not, a strict json_schema
// answer parsed by the client's parse() helper and JSON.parse (required keys, types, bounds), a tool
// round trip (tool_calls read, the assistant message and a role "tool" result sent back, an answer),
// streamed through the client's stream() helper, and bad input refused with 400 naming the field.
// Prints one line per check; exit status 0 when all pass, 1 at the first failure.
import OpenAI from 'openai';

const base = process.argv[2];
if (!base) {
  console.error('usage: node check.mjs BASE_URL [MODEL]   (e.g. http://127.0.0.1:8000)');
  process.exit(2);
}
const client = new OpenAI({ baseURL: base.replace(/\/$/, '') + '/v1', apiKey: process.env.OPENAI_API_KEY ?? 'unused', maxRetries: 0, timeout: 120_000 });
const model = process.argv[3] ?? (await client.models.list()).data[0]?.id;
if (!model) {
  console.error('FAIL the server lists no model');
  process.exit(1);
}
// Qwen3's template thinks first unless told not to; other templates ignore the variable
const extra = { chat_template_kwargs: { enable_thinking: false } };
const user = (text) => [{ role: 'user', content: text }];

let passed = 0;
function check(condition, what) {
  if (!condition) throw new Error(what);
}
async function step(name, fn) {
  const t0 = performance.now();
  try {
    const detail = await fn();
    passed++;
    console.log(`ok   ${name} (${Math.round(performance.now() - t0)} ms)${detail ? ': ' + detail : ''}`);
  } catch (e) {
    console.log(`FAIL ${name}: ${e instanceof OpenAI.APIError ? `${e.status} ${e.message}` : e.stack ?? e}`);
    process.exit(1);
  }
}
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** Collects a chat stream: text and logprobs per choice index, finish reasons, the usage chunk. */
async function collectChat(stream) {
  const text = {}, logprobs = {}, finish = {};
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text[c.index] = (text[c.index] ?? '') + (c.delta?.content ?? '');
      if (c.logprobs?.content) (logprobs[c.index] ??= []).push(...c.logprobs.content);
      if (c.finish_reason) (finish[c.index] ??= []).push(c.finish_reason);
    }
  }
  return { text, logprobs, finish, usage };
}

function checkTokenLogprobs(content, top, greedy) {
  for (const t of content) {
    check(t.top_logprobs.length === top, `${top} top_logprobs expected, got ${t.top_logprobs.length}`);
    check(t.logprob <= 0, `logprob ${t.logprob} > 0`);
    const mass = t.top_logprobs.reduce((s, c) => s + Math.exp(c.logprob), 0);
    check(mass <= 1 + 1e-6, `top probabilities sum to ${mass}`);
    check(Array.isArray(t.bytes), 'bytes missing');
    if (greedy) check(t.top_logprobs[0].token === t.token && t.top_logprobs[0].logprob === t.logprob, `greedy token ${JSON.stringify(t.token)} is not the top one`);
  }
}

await step('chat, streamed and not, same seed same text', async () => {
  const p = { model, messages: user('Tell me a story'), max_tokens: 24, temperature: 0.8, seed: 3, ...extra };
  const c = await client.chat.completions.create(p);
  const choice = c.choices[0];
  check(c.object === 'chat.completion' && choice.message.role === 'assistant', 'not a chat completion');
  check(['stop', 'length'].includes(choice.finish_reason), `finish_reason ${choice.finish_reason}`);
  check(c.usage.completion_tokens > 0 && c.usage.total_tokens === c.usage.prompt_tokens + c.usage.completion_tokens, 'usage');
  const s = await collectChat(await client.chat.completions.create({ ...p, stream: true, stream_options: { include_usage: true } }));
  check(s.text[0] === choice.message.content, `streamed ${JSON.stringify(s.text[0])} != ${JSON.stringify(choice.message.content)}`);
  check(same(s.finish[0], [choice.finish_reason]), `streamed finish ${s.finish[0]}`);
  check(s.usage && s.usage.completion_tokens === c.usage.completion_tokens, 'usage chunk');
  return `${c.usage.prompt_tokens} + ${c.usage.completion_tokens} tokens, ${choice.finish_reason}`;
});

await step('completions, streamed and not, same seed same text', async () => {
  const p = { model, prompt: 'Once upon a time', max_tokens: 24, temperature: 0.8, seed: 4 };
  const c = await client.completions.create(p);
  check(c.object === 'text_completion' && typeof c.choices[0].text === 'string', 'not a text completion');
  let text = '', finish = null;
  for await (const chunk of await client.completions.create({ ...p, stream: true })) {
    for (const ch of chunk.choices) {
      text += ch.text;
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  check(text === c.choices[0].text, 'streamed text differs');
  check(finish === c.choices[0].finish_reason, 'streamed finish_reason differs');
  return `${c.usage.completion_tokens} tokens`;
});

await step('chat logprobs + top_logprobs, streamed and not', async () => {
  const p = { model, messages: user('Hello'), max_tokens: 12, temperature: 0, logprobs: true, top_logprobs: 3, ...extra };
  const c = await client.chat.completions.create(p);
  const content = c.choices[0].logprobs.content;
  check(content.length === c.usage.completion_tokens, `${content.length} logprobs for ${c.usage.completion_tokens} tokens`);
  checkTokenLogprobs(content, 3, true);
  const s = await collectChat(await client.chat.completions.create({ ...p, stream: true }));
  check(same(s.logprobs[0].map((t) => [t.token, t.logprob]), content.map((t) => [t.token, t.logprob])), 'streamed logprobs differ');
  return `${content.length} tokens, first top ${content[0].top_logprobs.map((t) => t.logprob.toFixed(2)).join(' ')}`;
});

await step('completions logprobs, streamed and not', async () => {
  const p = { model, prompt: 'Once upon a time', max_tokens: 12, temperature: 0.7, seed: 5, logprobs: 2 };
  const c = await client.completions.create(p);
  const lp = c.choices[0].logprobs;
  check(lp.tokens.length === c.usage.completion_tokens && lp.token_logprobs.length === lp.tokens.length, 'one logprob per token');
  lp.top_logprobs.forEach((top, i) => {
    const n = Object.keys(top).length;
    check(n >= 1 && n <= 3, `top map of ${n}`);
    check(lp.tokens[i] in top, 'the chosen token is in its top map');
  });
  const lps = [];
  for await (const chunk of await client.completions.create({ ...p, stream: true })) {
    for (const ch of chunk.choices) if (ch.logprobs) lps.push(...ch.logprobs.token_logprobs);
  }
  check(same(lps, lp.token_logprobs), 'streamed logprobs differ');
  return `${lp.tokens.length} tokens`;
});

await step('n = 2, streamed and not', async () => {
  const p = { model, messages: user('Tell me a story'), max_tokens: 16, temperature: 1, seed: 40, n: 2, ...extra };
  const c = await client.chat.completions.create(p);
  check(same(c.choices.map((x) => x.index), [0, 1]), 'two choices, indices 0 and 1');
  check(c.choices[0].message.content !== c.choices[1].message.content, 'the two choices are the same text');
  const s = await collectChat(await client.chat.completions.create({ ...p, stream: true }));
  for (const i of [0, 1]) {
    check(s.text[i] === c.choices[i].message.content, `streamed choice ${i} differs`);
    check(s.finish[i]?.length === 1, `choice ${i} finishes ${s.finish[i]?.length ?? 0} times`);
  }
  return `${c.usage.completion_tokens} completion tokens`;
});

const forecast = {
  type: 'json_schema',
  json_schema: {
    name: 'forecast',
    strict: true,
    schema: {
      type: 'object',
      properties: {
        city: { type: 'string', enum: ['Paris', 'Rome'] },
        temp_c: { type: 'integer' },
        windy: { type: 'boolean' },
        tags: { type: 'array', items: { type: 'string', maxLength: 6 }, maxItems: 3 },
      },
      required: ['city', 'temp_c', 'windy', 'tags'],
      additionalProperties: false,
    },
  },
};
function checkForecast(v) {
  check(v && typeof v === 'object' && !Array.isArray(v), 'not an object');
  check(same(Object.keys(v).sort(), ['city', 'tags', 'temp_c', 'windy']), `keys ${Object.keys(v)}`);
  check(['Paris', 'Rome'].includes(v.city), `city ${v.city}`);
  check(Number.isInteger(v.temp_c), `temp_c ${v.temp_c}`);
  check(typeof v.windy === 'boolean', `windy ${v.windy}`);
  check(Array.isArray(v.tags) && v.tags.length <= 3 && v.tags.every((t) => typeof t === 'string' && [...t].length <= 6), `tags ${JSON.stringify(v.tags)}`);
}

await step('json_schema answer parsed by parse() and JSON.parse, streamed and not', async () => {
  const answers = [];
  for (const seed of [1, 2, 3, 4]) {
    const p = { model, messages: user('Forecast, as JSON'), max_tokens: 200, temperature: 1, seed, response_format: forecast, ...extra };
    const c = await client.chat.completions.parse(p);
    const m = c.choices[0].message;
    check(c.choices[0].finish_reason === 'stop', `seed ${seed} ended with ${c.choices[0].finish_reason}: ${m.content}`);
    checkForecast(JSON.parse(m.content));
    check(same(m.parsed, JSON.parse(m.content)), 'parse() and JSON.parse differ');
    answers.push(JSON.stringify(m.parsed));
    if (seed === 1) {
      const s = await collectChat(await client.chat.completions.create({ ...p, stream: true }));
      check(s.text[0] === m.content, 'streamed answer differs');
    }
  }
  return answers[0];
});

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Weather in a city for some days',
    strict: true,
    parameters: {
      type: 'object',
      properties: { city: { type: 'string', enum: ['Paris', 'Rome'] }, days: { type: 'integer' } },
      required: ['city', 'days'],
      additionalProperties: false,
    },
  },
};
const named = { type: 'function', function: { name: 'get_weather' } };

function checkCall(choice) {
  check(choice.finish_reason === 'tool_calls', `finish_reason ${choice.finish_reason}: ${choice.message.content}`);
  const calls = choice.message.tool_calls;
  check(calls?.length === 1, `${calls?.length} tool calls`);
  const call = calls[0];
  check(call.type === 'function' && call.id && call.function.name === 'get_weather', `call ${JSON.stringify(call)}`);
  const args = JSON.parse(call.function.arguments);
  check(['Paris', 'Rome'].includes(args.city) && Number.isInteger(args.days), `arguments ${call.function.arguments}`);
  return { call, args };
}

function afterCall(message, call, args) {
  return [
    ...user('What is the weather in Paris for 2 days?'),
    message, // as the client returned it (content null)
    { role: 'tool', tool_call_id: call.id, content: JSON.stringify({ city: args.city, sky: 'sunny' }) },
  ];
}

await step('tool round trip, streamed and not', async () => {
  const ask = { model, messages: user('What is the weather in Paris for 2 days?'), tools: [weatherTool], tool_choice: named, max_tokens: 200, temperature: 1, seed: 5, ...extra };
  const c = await client.chat.completions.parse(ask);
  const { call, args } = checkCall(c.choices[0]);
  check(same(call.function.parsed_arguments, args), 'parse() parsed_arguments differ');
  const answer = await client.chat.completions.create({ ...ask, messages: afterCall(c.choices[0].message, call, args), tool_choice: 'none', max_tokens: 16 });
  const text = answer.choices[0].message.content;
  check(typeof text === 'string' && text.length > 0 && !answer.choices[0].message.tool_calls?.length, 'no plain answer after the tool result');

  // streamed through the client's stream() helper, which assembles the tool-call deltas
  const final = await client.chat.completions.stream(ask).finalChatCompletion();
  const streamed = checkCall(final.choices[0]);
  check(streamed.call.function.arguments === call.function.arguments, 'same seed, same call');
  // the answer runs to max_tokens on random weights, which the helpers refuse to parse (LengthFinishReasonError): plain stream
  const back = await collectChat(await client.chat.completions.create({
    ...ask, messages: afterCall(final.choices[0].message, streamed.call, streamed.args), tool_choice: 'none', max_tokens: 16, stream: true,
  }));
  check(back.text[0] === text, 'same seed, same answer after the tool result');
  return `${call.function.name}(${call.function.arguments}) -> ${answer.usage.prompt_tokens} prompt tokens`;
});

await step('bad input is 400 naming the field', async () => {
  const cases = [
    [{ model, messages: user('x'), logprobs: true, top_logprobs: 21 }, 'top_logprobs'],
    [{ model, messages: user('x'), tools: [weatherTool], tool_choice: { type: 'function', function: { name: 'nope' } } }, 'tool_choice'],
    [{ model, messages: user('x'), tools: [{ type: 'function', function: { parameters: {} } }] }, 'tools[0].function.name'],
    [{ model, messages: user('x'), response_format: { type: 'json_schema', json_schema: { name: 's', schema: { type: 'string', pattern: '^a' } } } },
      'response_format.json_schema.schema'],
  ];
  for (const [body, param] of cases) {
    try {
      await client.chat.completions.create(body);
    } catch (e) {
      check(e instanceof OpenAI.BadRequestError, `${param}: ${e}`);
      check(e.status === 400 && e.param === param, `${param}: status ${e.status}, param ${e.param}`);
      continue;
    }
    throw new Error(`${param}: accepted`);
  }
  return cases.map((c) => c[1]).join(', ');
});

console.log(`all ${passed} checks passed against ${base} (${model})`);
