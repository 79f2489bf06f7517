//! ipsynd transmitter spawning (being written; owner: ipsynd-daemon).
