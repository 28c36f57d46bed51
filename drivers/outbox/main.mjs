// The same app as naive/main.mjs with a transactional outbox: the PostgreSQL
// write and an outbox record per changed entity commit together; then the
// entity is applied to DynamoDB and S3 at once, and a relay retries whatever
// is still in the outbox. Applying is idempotent and ordered: under the
// entity's advisory lock the relay reads the entity's current row and writes
// that state (a put conditioned on `updatedAt` never replaces a later one;
// a missing row deletes the item and its transcripts), so a retry, a
// duplicate or a late apply can only converge on what PostgreSQL holds.
//
// Run by `cutover replay SCENARIO --driver 'node drivers/outbox/main.mjs'
// --profile profiles/electrodb.toml`.

import { CampaignApp, retryable } from "../lib/app.mjs";
import { log, planted, serve } from "../lib/protocol.mjs";

const OUTBOX_SQL = `
CREATE TABLE "Outbox" (
    "id" BIGSERIAL PRIMARY KEY,
    "kind" TEXT NOT NULL,
    "entityId" TEXT NOT NULL,
    "keys" JSONB NOT NULL,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);`;
const RELAY_EVERY_MS = 200;
const RELAY_BATCH = 50;

let app;
let relayTimer;
let relaying = Promise.resolve();
let closing = false;

const TABLES = { user: '"User"', campaign: '"Campaign"', session: '"Session"', summary: '"SessionSummary"' };

/** Brings one entity's item and transcript to the state its row has now. */
async function applyEntity(kind, id, keys) {
  await app.transaction(async (client) => {
    await client.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [`${kind}:${id}`]);
    const { rows } = await client.query(`SELECT * FROM ${TABLES[kind]} WHERE id = $1`, [id]);
    const row = rows[0];
    if (row) {
      // The object before the item that points to it; stale objects after.
      const key = kind === "session" ? await app.uploadTranscript(row) : null;
      await app.putItem(kind, row, { onlyIfNewer: true });
      if (key) await app.deleteTranscripts(row.userId, id, key);
    } else {
      await app.deleteItem(kind, keys);
      if (kind === "session") await app.deleteTranscripts(keys.userId, id);
    }
  });
}

/** Applies one outbox record and removes it (and any later duplicate it covers). */
async function relayRecord(record) {
  await applyEntity(record.kind, record.entityId, record.keys);
  await app.pool.query(`DELETE FROM "Outbox" WHERE "kind" = $1 AND "entityId" = $2 AND "id" <= $3`, [
    record.kind,
    record.entityId,
    record.id,
  ]);
}

/** One relay pass over the oldest records; returns how many remain. */
async function relayOnce() {
  const { rows } = await app.pool.query(`SELECT * FROM "Outbox" ORDER BY "id" LIMIT ${RELAY_BATCH}`);
  for (const record of rows) {
    try {
      await relayRecord(record);
    } catch (error) {
      await app.pool.query(`UPDATE "Outbox" SET "attempts" = "attempts" + 1 WHERE "id" = $1`, [record.id]).catch(() => {});
      log(`relay: ${record.kind} ${record.entityId} not applied yet: ${error?.name ?? ""} ${error?.message ?? error}`);
    }
  }
  const { rows: count } = await app.pool.query(`SELECT count(*)::int AS pending FROM "Outbox"`);
  return count[0].pending;
}

function scheduleRelay() {
  if (closing) return;
  relayTimer = setTimeout(() => {
    if (!app.dualWrites) {
      scheduleRelay();
      return;
    }
    relaying = relayOnce()
      .catch((error) => log(`relay pass failed: ${error?.message ?? error}`))
      .finally(scheduleRelay);
  }, RELAY_EVERY_MS);
}

serve({
  name: "outbox",
  version: "1",
  async hello(run) {
    app = new CampaignApp(run);
    await app.migrate(OUTBOX_SQL);
    scheduleRelay();
  },
  async write(user, command) {
    const { changes, answer } = await app.writePostgres(command, async (client, changes) => {
      // Rolled back: PostgreSQL alone is written, and nothing is queued for DynamoDB.
      if (!app.dualWrites) return;
      for (const change of changes) {
        const { rows } = await client.query(
          `INSERT INTO "Outbox" ("kind", "entityId", "keys") VALUES ($1, $2, $3) RETURNING "id"`,
          [change.kind, change.id, JSON.stringify(change.keys)],
        );
        change.outboxId = rows[0].id;
      }
    });
    if (!app.dualWrites || planted.relayOnly) return answer;
    // Applied at once when it can be; the relay has it otherwise.
    for (const change of changes) {
      try {
        await applyEntity(change.kind, change.id, change.keys);
        // The state applied was read after this record committed: it covers it.
        await app.pool.query(`DELETE FROM "Outbox" WHERE "id" = $1`, [change.outboxId]);
      } catch (error) {
        log(`inline apply of ${change.kind} ${change.id} left to the relay: ${error?.name ?? ""} ${error?.message ?? error}`);
      }
    }
    return answer;
  },
  read: (user, read) => app.read(user, read),
  // The switch waits for the relay pass in flight, so no apply starts after it.
  async mode(mode) {
    app.setMode(mode);
    await relaying;
  },
  async drain(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    await relaying;
    let pending = await relayOnce();
    while (pending > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, RELAY_EVERY_MS));
      pending = await relayOnce();
    }
    return { pending };
  },
  async close() {
    closing = true;
    clearTimeout(relayTimer);
    await relaying;
    await app?.close();
  },
  retryable,
}, () => app);
