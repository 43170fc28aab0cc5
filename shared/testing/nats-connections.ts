import type { Msg, NatsConnection } from "@nats-io/nats-core";
import type { NatsLink } from "../nats.ts";

type RequestOptions =
  Parameters<NatsConnection["request"]> extends [string, ...infer Rest] ? Rest : never;

/**
 * `connection`, with every request it sends (a JetStream API call, a publish) going through
 * `intercept`, which may count, delay, fail or rewrite it: `send` sends it as it was.
 */
export function interceptRequests(
  connection: NatsConnection,
  intercept: (subject: string, send: () => Promise<Msg>) => Promise<Msg>,
): NatsConnection {
  return new Proxy(connection, {
    get(target, key) {
      if (key === "request") {
        return (subject: string, ...options: RequestOptions) =>
          intercept(subject, () => target.request(subject, ...options));
      }
      const value = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** A link that is always connected on `connection`, for a building block a test starts itself. */
export function linkTo(connection: NatsConnection, fields: Partial<NatsLink> = {}): NatsLink {
  return {
    connection,
    isConnected: true,
    generation: 1,
    connected: Promise.resolve(connection),
    close: async () => {},
    ...fields,
  };
}
