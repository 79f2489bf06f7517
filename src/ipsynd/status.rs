//! ipsynd status files (being written; owner: ipsynd-daemon).
