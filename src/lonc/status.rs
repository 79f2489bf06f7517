//! lonc status page and JSON (being written; owner: lonc-daemon).
