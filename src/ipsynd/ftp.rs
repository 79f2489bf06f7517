//! ipsynd FTP-mode execution (being written; owner: ipsynd-daemon).
