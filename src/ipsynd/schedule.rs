//! ipsynd scheduling decisions: tryalt rule, retry state, ordering, port allocation (being written; owner: ipsynd-core).
