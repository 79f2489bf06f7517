//! lonc hosts.tab parsing (being written; owner: lonc-core).
