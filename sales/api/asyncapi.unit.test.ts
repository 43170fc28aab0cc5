import { describe, expect, test } from "bun:test";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IntegrationEvent } from "contracts";
import { asyncApiProblems, draft07Problem } from "shared/testing/asyncapi-checks.ts";
import { runScriptProcess } from "shared/testing/script-process.ts";
import { useIntegrationTimeout } from "shared/testing/test-environment.ts";
import * as v from "valibot";
import { ASYNCAPI_FILE, asyncApiText } from "../scripts/asyncapi.ts";
import { asyncApiDocument } from "./asyncapi.ts";

// It starts processes (or compiles schemas): more than 5 s on a loaded machine.
useIntegrationTimeout();

const document = asyncApiDocument();
const types = IntegrationEvent.options.map((event) => event.entries.type.literal);
type Message = {
  payload: { required: string[]; properties: Record<string, { const?: string }> };
  headers: object;
  examples: { payload: unknown; headers: unknown }[];
};
const messages = document.components.messages as Record<string, Message>;

describe("the AsyncAPI document", () => {
  test("is a valid AsyncAPI 3.0.0 document", () => {
    expect(document.asyncapi).toBe("3.0.0");
    expect(asyncApiProblems(document)).toEqual([]);
  });

  test("the validator is not vacuous: a broken document is rejected", () => {
    const { info: _, ...withoutInfo } = document;
    expect(asyncApiProblems(withoutInfo).join("\n")).toContain("info");
    const badChannel = { ...document, channels: { x: { address: 42 } } };
    expect(asyncApiProblems(badChannel)).not.toEqual([]);
    const [name, operation] = Object.entries(document.operations)[0] as [string, object];
    const v2Action = { ...document, operations: { [name]: { ...operation, action: "publish" } } };
    expect(asyncApiProblems(v2Action)).not.toEqual([]);
  });

  test("has a channel (the NATS subject), a send operation and a message for every event", () => {
    expect(types.length).toBeGreaterThanOrEqual(2);
    const channels = Object.values(document.channels) as { address: string; messages: object }[];
    expect(channels.map((channel) => channel.address).sort()).toEqual([...types].sort());
    const operations = Object.values(document.operations) as {
      action: string;
      channel: { $ref: string };
    }[];
    expect(operations).toHaveLength(types.length);
    for (const operation of operations) {
      expect(operation.action).toBe("send");
      const channelId = operation.channel.$ref.replace("#/channels/", "");
      expect(Object.keys(document.channels)).toContain(channelId);
    }
  });

  test("each message's payload schema is its event's schema: CloudEvents envelope, type, full product state", () => {
    for (const type of types) {
      const message = Object.values(messages).find(
        (m) => m.payload.properties.type?.const === type,
      );
      expect(message).toBeDefined();
      expect(message?.payload.required).toEqual(
        expect.arrayContaining(["specversion", "id", "source", "type", "subject", "time", "data"]),
      );
      expect(message?.payload.properties.data).toMatchObject({
        required: ["productId", "sku", "name", "description", "price", "version"],
      });
    }
  });

  test("each example is a valid event by the contracts and by the document's own schemas", () => {
    for (const message of Object.values(messages)) {
      for (const example of message.examples) {
        expect(v.safeParse(IntegrationEvent, example.payload).issues).toBeUndefined();
        expect(draft07Problem(message.payload, example.payload)).toBeUndefined();
        expect(draft07Problem(message.headers, example.headers)).toBeUndefined();
      }
    }
  });

  test("sales/asyncapi.json is up to date (run `bun run asyncapi` after changing a contract)", async () => {
    expect(await Bun.file(ASYNCAPI_FILE).json()).toEqual(JSON.parse(asyncApiText()));
  });

  test("bun run asyncapi writes the document", async () => {
    const out = join(tmpdir(), `asyncapi-${Bun.randomUUIDv7()}.json`);
    try {
      const result = await runScriptProcess("sales/scripts/asyncapi.ts", ["--out", out], {});
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`AsyncAPI 3.0, ${types.length} channels`);
      expect(await Bun.file(out).text()).toBe(asyncApiText());
    } finally {
      await rm(out, { force: true });
    }
  });
});
