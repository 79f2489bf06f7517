//! lonc log writer (file, syslog) (being written; owner: lonc-daemon).
