//! ipsyn, the default transmitter: framing and sending (being written; owner: ipsynd-core).
