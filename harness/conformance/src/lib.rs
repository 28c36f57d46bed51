//! Conformance with the real app's libraries, run from `tests/`: the pinned
//! `electrodb` npm package (`fixtures/electrodb`) writes and reads the single
//! table beside cutover, and a Prisma-style database (`fixtures/prisma`) is
//! read through the ElectroDB profile's PostgreSQL half. The crate has no code
//! of its own: it exists so these tests can use every layer (app, parity,
//! backfill) without making one library depend on another for its tests.
//!
//! # Code map
//!
//! `tests/electrodb.rs`: the real `electrodb` and `prisma` npm packages beside cutover, on
//! Dynoxide and DynamoDB Local, for three ElectroDB configurations — each side reads the
//! other's items; Prisma's migration is the shipped one; rows Prisma wrote read back
//! through the profile; parity, backfill, repair and the profile check over stores only
//! ElectroDB and Prisma wrote. A crate of its own so these tests can use every layer.
