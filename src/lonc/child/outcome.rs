//! What the end of a link means, pure: the first link is 1.29's one link (its failure is the
//! child's failure path, its loss while serving a reconnect); an extra link's failure to open
//! is a retry later, its loss costs only the request it carried (spec §7.1, §8.6).

/// Why the child gives up and backs off (spec §3.1 failure path).
#[derive(Debug, PartialEq, Eq)]
pub enum Fail {
    Connect(String),
    Init,
    Socket(String),
    Replay(String),
}

/// Why a link is done for.
#[derive(Debug, PartialEq, Eq)]
pub enum Why {
    /// The TCP connect failed.
    Connect(String),
    /// The handshake failed (the reason is logged already).
    Init,
    /// Lost while replaying delayed messages.
    Replay(String),
    /// Lost while serving (closed, reset, reply timeout, answer too long).
    Lost(String),
}

/// What the child does about it.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// WARNING, `con_lost` to everyone, back off, exit.
    GiveUp(Fail),
    /// `con_lost` to the link's request and the queue, one immediate reconnect.
    Reconnect(String),
    /// `con_lost` to the link's request only; the link reopens on demand.
    ExtraLost(String),
    /// A WARNING; no extra link opens before the retry time.
    ExtraRetry(String),
}

/// The outcome of the end of the link in `slot` (0 = the first).
pub fn of_down(slot: usize, why: Why) -> Outcome {
    if slot == 0 {
        return match why {
            Why::Connect(e) => Outcome::GiveUp(Fail::Connect(e)),
            Why::Init => Outcome::GiveUp(Fail::Init),
            Why::Replay(e) => Outcome::GiveUp(Fail::Replay(e)),
            Why::Lost(e) => Outcome::Reconnect(e),
        };
    }
    match why {
        Why::Lost(e) => Outcome::ExtraLost(e),
        Why::Connect(e) | Why::Replay(e) => Outcome::ExtraRetry(e),
        Why::Init => Outcome::ExtraRetry("init failed".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_link_failing_to_open_is_the_childs_failure_path() {
        assert_eq!(
            of_down(0, Why::Connect("Connection refused".into())),
            Outcome::GiveUp(Fail::Connect("Connection refused".into()))
        );
        assert_eq!(of_down(0, Why::Init), Outcome::GiveUp(Fail::Init));
        assert_eq!(
            of_down(0, Why::Replay("closed by peer".into())),
            Outcome::GiveUp(Fail::Replay("closed by peer".into()))
        );
    }

    #[test]
    fn the_first_link_lost_while_serving_reconnects_at_once() {
        assert_eq!(
            of_down(0, Why::Lost("reply timeout".into())),
            Outcome::Reconnect("reply timeout".into())
        );
    }

    #[test]
    fn an_extra_link_never_ends_the_child() {
        assert_eq!(
            of_down(2, Why::Init),
            Outcome::ExtraRetry("init failed".into())
        );
        assert_eq!(
            of_down(1, Why::Connect("Connection refused".into())),
            Outcome::ExtraRetry("Connection refused".into())
        );
        assert_eq!(
            of_down(1, Why::Lost("closed by peer".into())),
            Outcome::ExtraLost("closed by peer".into())
        );
    }
}
