//! Unit tests of the tryalt rule (port picking and ordering: `core::tests`).

use super::*;

fn alts(tryalt: TryAlt, n: u32) -> Vec<u32> {
    (1..=n).filter(|&k| use_alt(k, tryalt, true)).collect()
}

#[test]
fn tryalt_every_n() {
    // Default 5 with retry 11: normal x5, alt, normal x5.
    assert_eq!(alts(TryAlt::Every(5), 11), [6]);
    assert_eq!(alts(TryAlt::Every(2), 10), [3, 6, 9]);
    assert_eq!(alts(TryAlt::Every(100), 100), Vec::<u32>::new());
    assert_eq!(alts(TryAlt::Every(3), 12), [4, 8, 12]);
}

#[test]
fn tryalt_even_alternates_normal_first() {
    assert_eq!(alts(TryAlt::Even, 7), [2, 4, 6]);
}

#[test]
fn no_alt_never() {
    for k in 1..=20 {
        assert!(!use_alt(k, TryAlt::Even, false));
        assert!(!use_alt(k, TryAlt::Every(2), false));
    }
    assert!(!use_alt(0, TryAlt::Even, true));
}
