//! lonc parent: probes, forks, reaps and restarts children; signals (being written; owner: lonc-daemon).
