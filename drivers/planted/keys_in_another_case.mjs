// The outbox dual write (drivers/outbox) with ElectroDB's key casing set to
// "none" while the app's profile (profiles/electrodb.toml) says "default"
// (whole keys lower-cased): every key is `USER#u0000001` where the layout
// says `user#u0000001`. The app reads its own items back, so its answers are
// right; parity reads the table as the profile lays it out. For the replay's
// tests (harness/replay/tests/it/drivers.rs): the report must lead with one
// line naming the pattern (keys differing by case only) and its count.
//
// usage: node keys_in_another_case.mjs

import { planted } from "../lib/protocol.mjs";

planted.keyCasing = "none";
planted.wrap = (outbox) => ({ ...outbox, name: "keys-in-another-case" });

await import("../outbox/main.mjs");
