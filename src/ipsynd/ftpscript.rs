//! FTP mode command file and reply judging (being written; owner: ipsynd-core).
