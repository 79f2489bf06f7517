//! ipsynd tables: client parameter files, PORTS, IPSYND (being written; owner: ipsynd-core).
