//! lonc: the LON-CAPA connection daemon. Module map is filled in as the pieces land.
