// The dual write the seeds plan (seed 000: "write PostgreSQL, then DynamoDB";
// seed 001: ElectroDB entities and an S3 upload helper), as a team would
// first write it: the PostgreSQL write, then the ElectroDB put (or delete),
// then the S3 upload, in sequence. No outbox, no retry queue: a DynamoDB or
// S3 error after the commit is logged and skipped, and the user is told the
// write succeeded (it did, in PostgreSQL).
//
// Run by `cutover replay SCENARIO --driver 'node drivers/naive/main.mjs'
// --profile profiles/electrodb.toml`.

import { CampaignApp, retryable } from "../lib/app.mjs";
import { log, serve } from "../lib/protocol.mjs";

let app;
let skipped = 0;

serve({
  name: "naive",
  version: "1",
  async hello(run) {
    app = new CampaignApp(run);
    await app.migrate();
  },
  write: (user, command) =>
    app.naiveWrite(command, (change, error) => {
      skipped += 1;
      log(`dual write of ${change.kind} ${change.id} failed after the PostgreSQL commit (skipped): ${error?.name ?? ""} ${error?.message ?? error}`);
    }),
  read: (user, read) => app.read(user, read),
  mode: (mode) => app.setMode(mode),
  // Nothing runs in the background: what was skipped stays skipped.
  async drain() {
    return { pending: 0, skipped };
  },
  close: () => app?.close(),
  retryable,
}, () => app);
