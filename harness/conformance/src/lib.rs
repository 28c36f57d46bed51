//! Conformance with the real app's libraries, run from `tests/`: the pinned
//! `electrodb` npm package (`fixtures/electrodb`) writes and reads the single
//! table beside cutover, and a Prisma-style database (`fixtures/prisma`) is
//! read through the ElectroDB profile's PostgreSQL half. The crate has no code
//! of its own: it exists so these tests can use every layer (app, parity,
//! backfill) without making one library depend on another for its tests.
