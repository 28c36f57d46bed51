// The outbox dual write (drivers/outbox) that leaves every write to its
// relay, as a change-data-capture sync does: nothing is applied to DynamoDB
// at commit, so a read served from DynamoDB lags the user's own writes by up
// to a relay pass (200 ms). Every store converges, so the settle points and
// the end-of-run checks pass it. For the replay's tests
// (harness/replay/tests/it/drivers.rs): the in-run read judge must catch it,
// with faults firing as without.
//
// usage: node relay_only.mjs

import { planted } from "../lib/protocol.mjs";

planted.relayOnly = true;
planted.wrap = (outbox) => ({ ...outbox, name: "relay-only" });

await import("../outbox/main.mjs");
