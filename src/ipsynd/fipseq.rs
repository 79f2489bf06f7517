//! FipSeq expansion of script: values and word splitting (being written; owner: ipsynd-core).
