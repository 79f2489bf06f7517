//! lonc IDEA key derivation and line encryption, byte-compatible with 1.29 (being written; owner: lonc-core).
