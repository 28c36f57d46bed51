// The driver protocol's transport (docs/driver-protocol.md): JSON lines on
// stdin (requests) and stdout (answers). Logs go to stderr, never stdout.
//
// Operations are handled as they arrive, so several may be in flight; the
// harness never sends a user's next operation before its previous answer.

import readline from "node:readline";

export const PROTOCOL_VERSION = 1;

/** How long closing may take after `bye` (the harness allows 10 s). */
const CLOSE_WITHIN_MS = 8_000;

/** Why an operation was refused by the app, as the protocol names it. */
export class Rejected extends Error {
  constructor(reason, detail) {
    super(detail);
    this.reason = reason; // "not_found" | "already_exists" | "invalid"
  }
}

export const notFound = (kind, id) => new Rejected("not_found", `${kind} ${id} does not exist`);
export const alreadyExists = (kind, id) =>
  new Rejected("already_exists", `${kind} ${id} already exists`);

export function log(...parts) {
  process.stderr.write(`${parts.join(" ")}\n`);
}

/**
 * Planted bugs' hooks (drivers/planted), so a planted driver is a reference
 * one with one thing changed; set them before importing the reference
 * driver's main.mjs. The reference drivers leave them as they are here.
 */
export const planted = {
  /**
   * Receives the handlers a driver serves and a getter of its app (a
   * `CampaignApp` once `hello` made it); returns the handlers to serve.
   */
  wrap: (handlers, app) => handlers,
  /** The outbox driver leaves every write to its relay (no apply at commit). */
  relayOnly: false,
  /** The search copy's transformation instead of `normalize` (app.mjs). */
  searchNormalize: null,
  /** ElectroDB's key casing ("default" lowercases whole keys, as the profile says). */
  keyCasing: "default",
  /** An update sets `updatedAt` to the time of the write. */
  bumpUpdatedAt: true,
};

/**
 * Serves the protocol. `handlers`: { name, version, hello(run), write(user,
 * command), read(user, read), drain(timeoutMs), mode(mode), close(),
 * retryable(error) }; `app`: a getter of the driver's app, for planted bugs.
 */
export function serve(reference, app = () => undefined) {
  const handlers = planted.wrap(reference, app);
  const send = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);
  const inFlight = new Set();
  let closing = false;

  const finish = async () => {
    if (closing) return;
    closing = true;
    // The harness kills a driver still running 10 s after `bye`: say why
    // before that, and exit as failed (what was stuck is in the log above).
    setTimeout(() => {
      log(`closing: still busy ${CLOSE_WITHIN_MS} ms after \`bye\` (${inFlight.size} messages in flight); exiting`);
      process.exit(1);
    }, CLOSE_WITHIN_MS).unref();
    await Promise.allSettled([...inFlight]);
    try {
      await handlers.close?.();
    } catch (error) {
      log(`closing: ${error?.stack ?? error}`);
    }
    process.exit(0);
  };

  const handle = async (message) => {
    switch (message.type) {
      case "hello": {
        if (message.protocol !== PROTOCOL_VERSION) {
          log(`the harness speaks protocol ${message.protocol}; this driver speaks ${PROTOCOL_VERSION}`);
        }
        await handlers.hello(message.run);
        send({ type: "ready", protocol: PROTOCOL_VERSION, driver: handlers.name, version: handlers.version });
        return;
      }
      case "write":
      case "read":
      case "drain":
      case "mode": {
        let result;
        try {
          const answer =
            message.type === "write"
              ? await handlers.write(message.user, message.command)
              : message.type === "read"
                ? await handlers.read(message.user, message.read)
                : message.type === "drain"
                  ? await handlers.drain(message.timeout_ms)
                  : await handlers.mode(message.mode);
          result = { outcome: "ok", answer: answer ?? null };
        } catch (error) {
          if (error instanceof Rejected) {
            result = { outcome: "rejected", reason: error.reason, detail: error.message };
          } else {
            result = {
              outcome: "failed",
              error: String(error?.message ?? error),
              retryable: Boolean(handlers.retryable?.(error)),
            };
          }
        }
        send({ type: "result", id: message.id, ...result });
        return;
      }
      case "bye":
        await finish();
        return;
      default:
        log(`unknown message type ${JSON.stringify(message.type)}`);
    }
  };

  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  lines.on("line", (line) => {
    if (!line.trim()) return;
    let message;
    try {
      message = JSON.parse(line);
    } catch (error) {
      log(`not JSON: ${line.slice(0, 200)}`);
      return;
    }
    const task = handle(message).catch((error) => {
      // Only `hello` gets here (operations answer their own errors): without
      // a working app there is nothing to drive.
      log(`${message.type} failed: ${error?.stack ?? error}`);
      process.exit(1);
    });
    inFlight.add(task);
    task.finally(() => inFlight.delete(task));
  });
  lines.on("close", finish);
}
