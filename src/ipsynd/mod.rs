//! ipsynd: the FIP syndication daemon. Module map is filled in as the pieces land.
