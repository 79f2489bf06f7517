//! ipsynd log writer (being written; owner: ipsynd-daemon).
