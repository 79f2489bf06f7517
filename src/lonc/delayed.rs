//! lonc delayed-message replay (being written; owner: lonc-daemon).
