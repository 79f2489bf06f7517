//! lonc configuration: PerlSetVar lines into a validated LoncConfig (being written; owner: lonc-core).
