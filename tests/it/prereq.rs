//! What a test does when something it needs from the machine is missing (root for network
//! namespaces, `systemd-analyze`): outside `make test` it says so on stderr and passes, so a
//! plain `cargo test` as an ordinary user still runs everything else; under `make test`
//! (which installs every prerequisite through scripts/setup.sh and sets
//! `LONCSYN_TEST_STRICT=1`) the test fails, so CI can never pass on checks that did not run.

/// Whether a missing prerequisite fails the test (`LONCSYN_TEST_STRICT=1`).
pub fn strict() -> bool {
    std::env::var_os("LONCSYN_TEST_STRICT").is_some_and(|v| v == "1")
}

/// `test` cannot run because of `why`: a panic in strict mode, else one line on stderr.
/// Returns so the caller can end the test (`return`).
pub fn missing(test: &str, why: &str) {
    assert!(
        !strict(),
        "{test}: {why}; make test sets LONCSYN_TEST_STRICT=1, where every prerequisite must \
         be there (scripts/setup.sh installs them; run as root)"
    );
    eprintln!("SKIPPED {test}: {why}");
}

#[test]
fn strict_is_what_the_makefile_sets() {
    // The Makefile's test target is the only place the variable is set; this test only pins
    // the spelling both sides use.
    let make = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Makefile")).unwrap();
    assert!(
        make.contains("LONCSYN_TEST_STRICT=1 $(CARGO) test --all-targets"),
        "{make}"
    );
    assert!(make.contains("LONCSYN_TEST_STRICT=1 $(CARGO) test --release --all-targets"));
}
