//! ipsynd in-use flag files (being written; owner: ipsynd-daemon).
