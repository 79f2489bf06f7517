//! lonc log, perm-log and time formats (Perl scalar localtime) (being written; owner: lonc-core).
