// The outbox dual write (drivers/outbox) whose updates leave `updatedAt` as
// it was (the column is set on create only). For the replay's tests
// (harness/replay/tests/it/drivers.rs): the finding must say what is wrong
// with the version, not only that it is "stale".
//
// usage: node no_updated_at_bump.mjs

import { planted } from "../lib/protocol.mjs";

planted.bumpUpdatedAt = false;
planted.wrap = (outbox) => ({ ...outbox, name: "no-updated-at-bump" });

await import("../outbox/main.mjs");
