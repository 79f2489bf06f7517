//! transmitter argv building (switch and positional styles) (being written; owner: ipsynd-core).
