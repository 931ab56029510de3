import { strict as assert } from "node:assert";
import { test } from "node:test";
import { serverSettings } from "../settings";

test("unset and blank values are left out, so the server's defaults apply", () => {
  const values: Record<string, unknown> = { backend: "openai", model: "  ", baseUrl: null, samples: 8, timeout: undefined };
  assert.deepEqual(serverSettings((k) => values[k]), { backend: "openai", samples: 8 });
});

test("every server key is passed, strings trimmed; client-only keys never", () => {
  const values: Record<string, unknown> = {
    backend: "anthropic",
    model: " claude ",
    baseUrl: "http://127.0.0.1:1/v1",
    samples: 4,
    timeout: 2.5,
    maxTokens: 64,
    temperature: 0,
    lean: "bundled",
    serverPath: "/x/leanfd",
    serverArgs: ["-v"],
  };
  assert.deepEqual(serverSettings((k) => values[k]), {
    backend: "anthropic",
    model: "claude",
    baseUrl: "http://127.0.0.1:1/v1",
    samples: 4,
    timeout: 2.5,
    maxTokens: 64,
    temperature: 0,
    lean: "bundled",
  });
});

test("non-finite numbers are dropped", () => {
  assert.deepEqual(serverSettings((k) => (k === "samples" ? Number.NaN : undefined)), {});
});
