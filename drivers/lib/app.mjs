// The campaign app as seed 001 plans it, in TypeScript's own stack: rows in
// PostgreSQL through `pg` (the Prisma schema of fixtures/prisma), items through
// ElectroDB's entities (seed 001, with ElectroDB's defaults: the layout
// profiles/electrodb.toml describes), transcripts in S3 behind a pointer.
//
// Both reference drivers share this; they differ only in how a committed
// PostgreSQL write reaches DynamoDB and S3 (naive/main.mjs, outbox/main.mjs).

import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { Entity } from "electrodb";
import pg from "pg";

import { seed001Entities } from "../../fixtures/electrodb/entities.mjs";
import { Rejected, alreadyExists, notFound, planted } from "./protocol.mjs";

const here = dirname(fileURLToPath(import.meta.url));

// PostgreSQL `timestamp(3)` holds UTC wall time: read it as UTC, write it as
// the ISO text without a zone, so no session or machine time zone shifts it.
pg.types.setTypeParser(1114, (text) => new Date(`${text.replace(" ", "T")}Z`));
const pgTimestamp = (date) => date.toISOString().replace("T", " ").replace("Z", "");

// ---------------------------------------------------------------------------
// Search text, exactly as cutover_core::normalize computes it: NFKC, full
// lowercase, NFKC again, runs of whitespace/control characters to one space,
// fields joined by U+001F; a session's fields are its name, its summary and
// its metadata's string values (object keys in byte order).
// ---------------------------------------------------------------------------

export function normalize(text) {
  const folded = text.normalize("NFKC").toLowerCase().normalize("NFKC");
  return folded.replace(/[\p{White_Space}\p{Cc}]+/gu, " ").trim();
}

// The search transformation the app applies (a planted driver may swap it).
const searchNormalize = (text) => (planted.searchNormalize ?? normalize)(text);

const byteOrder = (a, b) => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));

function metadataStrings(value, out) {
  if (typeof value === "string") out.push(value);
  else if (Array.isArray(value)) value.forEach((v) => metadataStrings(v, out));
  else if (value && typeof value === "object") {
    Object.keys(value)
      .sort(byteOrder)
      .forEach((key) => metadataStrings(value[key], out));
  }
  return out;
}

export function sessionSearchText(name, summary, metadata) {
  return [name, summary, ...metadataStrings(metadata, [])]
    .map((part) => searchNormalize(part))
    .filter((part) => part.length > 0)
    .join("\u001f");
}

// ---------------------------------------------------------------------------
// PostgreSQL: the Prisma schema's tables. Each kind's table, its columns as
// the app names them, and its parent.
// ---------------------------------------------------------------------------

const TABLES = { user: '"User"', campaign: '"Campaign"', session: '"Session"', summary: '"SessionSummary"' };
const CHILDREN = { user: ["campaign", '"userId"'], campaign: ["session", '"campaignId"'], session: ["summary", '"sessionId"'] };

export const sha256Hex = (text) => createHash("sha256").update(text, "utf8").digest("hex");
export const transcriptKey = (userId, sessionId, sha) => `transcripts/${userId}/${sessionId}/${sha}`;
const transcriptPrefix = (userId, sessionId) => `transcripts/${userId}/${sessionId}/`;

/** The composite key attributes of an entity's item, from its row. */
export function itemKeys(kind, row) {
  switch (kind) {
    case "user":
      return { userId: row.id };
    case "campaign":
      return { userId: row.userId, campaignId: row.id };
    case "session":
      return { campaignId: row.campaignId, sessionId: row.id, userId: row.userId };
    case "summary":
      return { sessionId: row.sessionId, summaryId: row.id };
    default:
      throw new Error(`unknown kind ${kind}`);
  }
}

const iso = (date) => date.toISOString();

/** The item ElectroDB stores for a row. */
export function itemOf(kind, row) {
  const dates = { createdAt: iso(row.createdAt), updatedAt: iso(row.updatedAt) };
  switch (kind) {
    case "user":
      return { userId: row.id, email: row.email, displayName: row.displayName, ...dates };
    case "campaign":
      return { campaignId: row.id, userId: row.userId, name: row.name, description: row.description, ...dates };
    case "session": {
      const sha = sha256Hex(row.transcript);
      const item = {
        sessionId: row.id,
        campaignId: row.campaignId,
        userId: row.userId,
        name: row.name,
        summary: row.summary,
        metadata: row.metadata,
        transcriptStorageKey: transcriptKey(row.userId, row.id, sha),
        transcriptBytes: Buffer.byteLength(row.transcript, "utf8"),
        transcriptSha256: sha,
        searchText: sessionSearchText(row.name, row.summary, row.metadata),
        ...dates,
      };
      if (row.shareToken !== null) item.shareToken = row.shareToken;
      return item;
    }
    case "summary":
      return { summaryId: row.id, sessionId: row.sessionId, userId: row.userId, kind: row.kind, body: row.body, ...dates };
    default:
      throw new Error(`unknown kind ${kind}`);
  }
}

// Answers in the protocol's shapes (docs/driver-protocol.md#answers).
const answers = {
  user: (i) => ({ id: i.userId, email: i.email, display_name: i.displayName, created_at: i.createdAt, updated_at: i.updatedAt }),
  campaign: (i) => ({ id: i.campaignId, user_id: i.userId, name: i.name, description: i.description, created_at: i.createdAt, updated_at: i.updatedAt }),
  session: (i) => ({
    id: i.sessionId,
    campaign_id: i.campaignId,
    user_id: i.userId,
    name: i.name,
    summary: i.summary,
    metadata: i.metadata,
    share_token: i.shareToken ?? null,
    transcript_key: i.transcriptStorageKey,
    created_at: i.createdAt,
    updated_at: i.updatedAt,
  }),
  summary: (i) => ({ id: i.summaryId, session_id: i.sessionId, user_id: i.userId, kind: i.kind, body: i.body, created_at: i.createdAt, updated_at: i.updatedAt }),
};

/** Whether a failed call may succeed if tried again (a restart, a throttle, a timeout). */
export function retryable(error) {
  // ElectroDB wraps the SDK's error (`cause`); the SDK may wrap a socket's.
  for (let cause = error?.cause; cause; cause = cause.cause) {
    if (retryableItself(cause)) return true;
  }
  return retryableItself(error);
}

function retryableItself(error) {
  const code = typeof error?.code === "string" ? error.code : "";
  if (/^(08|57P|53300|40001|40P01)/.test(code)) return true;
  if (["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EAI_AGAIN"].includes(code)) return true;
  if (/Connection terminated|connection timeout|Client has encountered a connection error/i.test(error?.message ?? "")) return true;
  if (error?.$retryable || (error?.$metadata?.httpStatusCode ?? 0) >= 500) return true;
  return ["ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded", "SlowDown", "TimeoutError"].includes(error?.name);
}

export class CampaignApp {
  constructor(run) {
    this.run = run;
    // Every wait is bounded, as an app in production would have it: a request
    // the network or a restarting engine swallows fails and is retried (or
    // left to the relay) instead of holding the app for ever. (The AWS SDK's
    // default is no request timeout at all, and a pg pool waits for ever for
    // a free client.)
    this.pool = new pg.Pool({
      connectionString: run.postgres.url,
      max: 8,
      connectionTimeoutMillis: 10_000,
      statement_timeout: 20_000,
    });
    // An idle client's connection may break (a restarting engine): log, not crash.
    this.pool.on("error", (error) => process.stderr.write(`postgres pool: ${error.message}\n`));
    const aws = (service) => ({
      endpoint: service.endpoint ?? undefined,
      region: service.region,
      requestHandler: { connectionTimeout: 3_000, requestTimeout: 15_000, throwOnRequestTimeout: true },
      credentials: run.credentials
        ? {
            accessKeyId: run.credentials.access_key_id,
            secretAccessKey: run.credentials.secret_access_key,
            sessionToken: run.credentials.session_token ?? undefined,
          }
        : undefined,
    });
    this.dynamodb = new DynamoDBClient(aws(run.dynamodb));
    this.s3 = new S3Client({ ...aws(run.s3), forcePathStyle: run.s3.force_path_style });
    this.bucket = run.s3.bucket;
    // Seed 001's entities (one statement, shared with the conformance test),
    // with ElectroDB's default key casing and ISO-8601 dates.
    this.entities = seed001Entities({
      Entity,
      client: this.dynamodb,
      table: run.dynamodb.table,
      casing: planted.keyCasing,
    });
    this.setMode(run.mode);
  }

  /** `dual`, `postgres-only` (a rollback: DynamoDB and S3 are left alone) or `shadow-read`. */
  setMode(mode) {
    if (!["dual", "postgres-only", "shadow-read"].includes(mode)) {
      throw new Rejected("invalid", `unknown mode ${JSON.stringify(mode)}`);
    }
    this.mode = mode;
    this.dualWrites = mode !== "postgres-only";
    this.readsFromDynamodb = mode === "dual";
  }

  /** Creates the Prisma schema (fixtures/prisma/migration.sql) and `extraSql`. */
  async migrate(extraSql = "") {
    const schema = readFileSync(join(here, "..", "..", "fixtures", "prisma", "migration.sql"), "utf8");
    await this.pool.query(schema + extraSql);
  }

  async close() {
    this.dynamodb.destroy();
    this.s3.destroy();
    // A connection the fault proxy or a restart left half-open must not hold
    // the exit: the pool gets a moment to say goodbye, no more.
    const moment = new Promise((resolve) => setTimeout(resolve, 2000).unref());
    await Promise.race([this.pool.end().catch(() => {}), moment]);
  }

  async transaction(work) {
    const client = await this.pool.connect();
    // A connection that breaks while checked out (a reset, a crash) emits
    // 'error' besides failing the query in flight: the query's error is the one
    // that counts, so the event is only logged.
    const onError = (error) => process.stderr.write(`postgres connection: ${error.message}\n`);
    client.on("error", onError);
    let broken;
    try {
      await client.query("BEGIN");
      const result = await work(client);
      await client.query("COMMIT");
      return result;
    } catch (error) {
      if (error instanceof Rejected) {
        await client.query("ROLLBACK").catch(() => {});
      } else {
        // Anything else may have left the connection mid-statement or dead:
        // it is closed (the server rolls back), never reused.
        broken = error;
      }
      throw error;
    } finally {
      client.off("error", onError);
      client.release(broken);
    }
  }

  // --- PostgreSQL writes -----------------------------------------------------

  /**
   * Commits `command` to PostgreSQL in one transaction and returns what it
   * changed: `{ changes: [{ kind, id, keys, row }], answer }`, `row` being
   * the entity as committed (null once deleted) and `keys` its item's key
   * attributes. `inTransaction(client, changes)` runs before the commit.
   */
  async writePostgres(command, inTransaction = async () => {}) {
    return this.transaction(async (client) => {
      const now = pgTimestamp(new Date());
      const changes = [];
      let answer = null;
      const one = async (kind, id) => {
        const { rows } = await client.query(`SELECT * FROM ${TABLES[kind]} WHERE id = $1 FOR UPDATE`, [id]);
        return rows[0] ?? null;
      };
      const must = async (kind, id) => {
        const row = await one(kind, id);
        if (!row) throw notFound(kind, id);
        return row;
      };
      const insert = async (kind, columns) => {
        const names = Object.keys(columns);
        const sql = `INSERT INTO ${TABLES[kind]} (${names.map((n) => `"${n}"`).join(", ")})
                     VALUES (${names.map((_, i) => `$${i + 1}`).join(", ")})
                     ON CONFLICT (id) DO NOTHING RETURNING *`;
        const { rows } = await client.query(sql, Object.values(columns));
        if (rows.length === 0) throw alreadyExists(kind, columns.id);
        changes.push({ kind, id: columns.id, keys: itemKeys(kind, rows[0]), row: rows[0] });
      };
      const update = async (kind, id, columns) => {
        const set = Object.entries(columns).filter(([, value]) => value !== undefined && value !== null);
        const params = [id];
        const assignments = [];
        // The version always moves forward, even two writes in one millisecond
        // or a clock stepped back (the relay's conditional put relies on it).
        if (planted.bumpUpdatedAt) {
          params.push(now);
          assignments.push(`"updatedAt" = GREATEST($2::timestamp(3), "updatedAt" + interval '1 millisecond')`);
        }
        for (const [name, value] of set) {
          params.push(value);
          assignments.push(`"${name}" = $${params.length}`);
        }
        if (assignments.length === 0) assignments.push(`"updatedAt" = "updatedAt"`);
        const sql = `UPDATE ${TABLES[kind]} SET ${assignments.join(", ")} WHERE id = $1 RETURNING *`;
        const { rows } = await client.query(sql, params);
        if (rows.length === 0) throw notFound(kind, id);
        changes.push({ kind, id, keys: itemKeys(kind, rows[0]), row: rows[0] });
      };
      // A delete cascades (the schema's foreign keys): every descendant is a change too.
      const remove = async (kind, id) => {
        const row = await must(kind, id);
        const gone = [];
        const collect = async (k, r) => {
          gone.push({ kind: k, id: r.id, keys: itemKeys(k, r), row: null });
          const child = CHILDREN[k];
          if (!child) return;
          const { rows } = await client.query(`SELECT * FROM ${TABLES[child[0]]} WHERE ${child[1]} = $1`, [r.id]);
          for (const c of rows) await collect(child[0], c);
        };
        await collect(kind, row);
        await client.query(`DELETE FROM ${TABLES[kind]} WHERE id = $1`, [id]);
        changes.push(...gone);
      };
      const json = (value) => (value === undefined || value === null ? value : JSON.stringify(value));

      switch (command.op) {
        case "create_user":
          await insert("user", { id: command.user, email: command.email, displayName: command.display_name, createdAt: now, updatedAt: now });
          break;
        case "update_user":
          await update("user", command.user, { email: command.email, displayName: command.display_name });
          break;
        case "delete_user":
          await remove("user", command.user);
          break;
        case "create_campaign":
          await must("user", command.user);
          await insert("campaign", { id: command.campaign, userId: command.user, name: command.name, description: command.description, createdAt: now, updatedAt: now });
          break;
        case "update_campaign":
          await update("campaign", command.campaign, { name: command.name, description: command.description });
          break;
        case "delete_campaign":
          await remove("campaign", command.campaign);
          break;
        case "create_session": {
          const parent = await must("campaign", command.campaign);
          await insert("session", {
            id: command.session,
            campaignId: command.campaign,
            userId: parent.userId,
            name: command.name,
            summary: command.summary,
            metadata: json(command.metadata),
            transcript: command.transcript,
            createdAt: now,
            updatedAt: now,
          });
          break;
        }
        case "update_session":
          await update("session", command.session, {
            name: command.name,
            summary: command.summary,
            metadata: json(command.metadata),
            transcript: command.transcript,
          });
          break;
        case "delete_session":
          await remove("session", command.session);
          break;
        case "share_session": {
          const token = randomBytes(16).toString("hex");
          await update("session", command.session, { shareToken: token });
          answer = { share_token: token };
          break;
        }
        case "unshare_session": {
          const { rows } = await client.query(
            planted.bumpUpdatedAt
              ? `UPDATE "Session" SET "shareToken" = NULL, "updatedAt" = GREATEST($2::timestamp(3), "updatedAt" + interval '1 millisecond')
                 WHERE id = $1 RETURNING *`
              : `UPDATE "Session" SET "shareToken" = NULL WHERE id = $1 RETURNING *`,
            planted.bumpUpdatedAt ? [command.session, now] : [command.session],
          );
          if (rows.length === 0) throw notFound("session", command.session);
          changes.push({ kind: "session", id: command.session, keys: itemKeys("session", rows[0]), row: rows[0] });
          break;
        }
        case "create_summary": {
          const parent = await must("session", command.session);
          await insert("summary", { id: command.summary, sessionId: command.session, userId: parent.userId, kind: command.kind, body: command.body, createdAt: now, updatedAt: now });
          break;
        }
        case "update_summary":
          await update("summary", command.summary, { body: command.body });
          break;
        case "delete_summary":
          await remove("summary", command.summary);
          break;
        default:
          throw new Rejected("invalid", `unknown command ${JSON.stringify(command.op)}`);
      }
      await inTransaction(client, changes);
      return { changes, answer };
    });
  }

  // --- DynamoDB and S3 writes ------------------------------------------------

  /** Uploads a session's transcript under the key its item points to. */
  async uploadTranscript(row) {
    const key = transcriptKey(row.userId, row.id, sha256Hex(row.transcript));
    await this.s3.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: row.transcript, ContentType: "text/plain; charset=utf-8" }),
    );
    return key;
  }

  /** Deletes a session's transcript objects, except `keep`. */
  async deleteTranscripts(userId, sessionId, keep = null) {
    const listed = await this.s3.send(
      new ListObjectsV2Command({ Bucket: this.bucket, Prefix: transcriptPrefix(userId, sessionId) }),
    );
    const stale = (listed.Contents ?? []).map((o) => o.Key).filter((key) => key !== keep);
    if (stale.length > 0) {
      await this.s3.send(
        new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: stale.map((Key) => ({ Key })) } }),
      );
    }
  }

  /**
   * The naive dual write (seed 000): the PostgreSQL write, then each change
   * applied to DynamoDB and S3 in turn; a failure after the commit is handed
   * to `onFailure(change, error)` and skipped (the write did succeed, in
   * PostgreSQL). In postgres-only mode nothing but PostgreSQL is written.
   */
  async naiveWrite(command, onFailure) {
    const { changes, answer } = await this.writePostgres(command);
    if (!this.dualWrites) return answer;
    for (const change of changes) {
      try {
        await this.applyChange(change);
      } catch (error) {
        onFailure(change, error);
      }
    }
    return answer;
  }

  /**
   * One change's state written to DynamoDB and S3 as the naive dual write
   * does it: the item, then a session's transcript and the sweep of its older
   * ones; a delete removes the item (and a session's transcripts).
   */
  async applyChange(change) {
    if (change.row) {
      await this.putItem(change.kind, change.row);
      if (change.kind === "session") {
        const key = await this.uploadTranscript(change.row);
        await this.deleteTranscripts(change.row.userId, change.id, key);
      }
    } else {
      await this.deleteItem(change.kind, change.keys);
      if (change.kind === "session") await this.deleteTranscripts(change.keys.userId, change.id);
    }
  }

  /** Puts an entity's item as its row says; `onlyIfNewer`: never over a later state. */
  async putItem(kind, row, { onlyIfNewer = false } = {}) {
    const item = itemOf(kind, row);
    let put = this.entities[kind].put(item);
    if (onlyIfNewer) {
      put = put.where(({ updatedAt }, { notExists, lte }) => `${notExists(updatedAt)} OR ${lte(updatedAt, item.updatedAt)}`);
    }
    try {
      await put.go();
      return true;
    } catch (error) {
      if (onlyIfNewer && /conditional request failed/i.test(String(error?.message))) return false;
      throw error;
    }
  }

  async deleteItem(kind, keys) {
    await this.entities[kind].delete(keys).go();
  }

  // --- Reads -------------------------------------------------------------------

  async read(user, read) {
    return this.readsFromDynamodb ? this.readDynamodb(user, read) : this.readPostgres(user, read);
  }

  async readDynamodb(user, { read, arg }) {
    const { user: users, campaign: campaigns, session: sessions, summary: summaries } = this.entities;
    const all = { pages: "all" };
    const owned = (item) => (item && item.userId === user ? item : null);
    const campaignOf = async (id) => owned((await campaigns.query.byId({ campaignId: id }).go(all)).data[0]);
    const sessionOf = async (id) => owned((await sessions.query.byId({ sessionId: id }).go(all)).data[0]);
    switch (read) {
      case "user":
        return arg === user ? mapOrNull(answers.user, (await users.get({ userId: arg }).go()).data) : null;
      case "campaigns_of":
        return arg === user ? (await campaigns.query.byUser({ userId: arg }).go(all)).data.map(answers.campaign) : [];
      case "campaign":
        return mapOrNull(answers.campaign, await campaignOf(arg));
      case "sessions_of":
        return (await campaignOf(arg)) ? (await sessions.query.byCampaign({ campaignId: arg }).go(all)).data.map(answers.session) : [];
      case "session":
        return mapOrNull(answers.session, await sessionOf(arg));
      case "summaries_of":
        return (await sessionOf(arg)) ? (await summaries.query.bySession({ sessionId: arg }).go(all)).data.map(answers.summary) : [];
      case "session_by_share_token": {
        const found = (await sessions.query.byShareToken({ shareToken: arg }).go(all)).data[0];
        return mapOrNull(answers.session, found);
      }
      case "transcript": {
        const session = await sessionOf(arg);
        return session ? this.getTranscript(session.transcriptStorageKey) : null;
      }
      case "search_sessions": {
        if (!(await campaignOf(arg.campaign))) return [];
        const needle = searchNormalize(arg.query);
        let query = sessions.query.byCampaign({ campaignId: arg.campaign });
        if (needle) query = query.where(({ searchText }, { contains }) => contains(searchText, needle));
        return (await query.go(all)).data.map((s) => s.sessionId).sort();
      }
      default:
        throw new Rejected("invalid", `unknown read ${JSON.stringify(read)}`);
    }
  }

  async getTranscript(key) {
    const object = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    return object.Body.transformToString("utf-8");
  }

  async readPostgres(user, { read, arg }) {
    const rows = async (sql, params) => (await this.pool.query(sql, params)).rows;
    const answer = (kind, row) => answers[kind](itemOf(kind, row));
    const one = async (kind, id) => {
      const [row] = await rows(`SELECT * FROM ${TABLES[kind]} WHERE id = $1 AND "userId" = $2`, [id, user]);
      return row ?? null;
    };
    switch (read) {
      case "user": {
        const [row] = await rows(`SELECT * FROM "User" WHERE id = $1 AND id = $2`, [arg, user]);
        return row ? answer("user", row) : null;
      }
      case "campaigns_of":
        return (await rows(`SELECT * FROM "Campaign" WHERE "userId" = $1 AND "userId" = $2`, [arg, user])).map((r) => answer("campaign", r));
      case "campaign": {
        const row = await one("campaign", arg);
        return row ? answer("campaign", row) : null;
      }
      case "sessions_of":
        return (await rows(`SELECT * FROM "Session" WHERE "campaignId" = $1 AND "userId" = $2`, [arg, user])).map((r) => answer("session", r));
      case "session": {
        const row = await one("session", arg);
        return row ? answer("session", row) : null;
      }
      case "summaries_of":
        return (await rows(`SELECT * FROM "SessionSummary" WHERE "sessionId" = $1 AND "userId" = $2`, [arg, user])).map((r) => answer("summary", r));
      case "session_by_share_token": {
        const [row] = await rows(`SELECT * FROM "Session" WHERE "shareToken" = $1`, [arg]);
        return row ? answer("session", row) : null;
      }
      case "transcript": {
        const row = await one("session", arg);
        return row ? row.transcript : null;
      }
      case "search_sessions": {
        const needle = searchNormalize(arg.query);
        return (await rows(`SELECT * FROM "Session" WHERE "campaignId" = $1 AND "userId" = $2`, [arg.campaign, user]))
          .filter((r) => sessionSearchText(r.name, r.summary, r.metadata).includes(needle))
          .map((r) => r.id)
          .sort();
      }
      default:
        throw new Rejected("invalid", `unknown read ${JSON.stringify(read)}`);
    }
  }
}

const mapOrNull = (map, item) => (item ? map(item) : null);
