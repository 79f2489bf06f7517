//! A lond stand-in speaking the early-2002 server side, for tests, demo and bench (being written; owner: lonc-core).
