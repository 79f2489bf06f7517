//! lonc per-peer child: Unix listener, clients, one TCP connection to lond (being written; owner: lonc-daemon).
