//! control record names to client names (being written; owner: ipsynd-core).
