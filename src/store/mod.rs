//! Read-through user data: moka L1 -> Redis L2 -> PostgreSQL, with pushed invalidation;
//! plus the writes (accounting, post-auth) and the NAS table.

pub mod model;
