//! Locating the shared real-world fixtures (`../shared/fixtures`, read in place).

pub use vouch_testkit::fixtures;
