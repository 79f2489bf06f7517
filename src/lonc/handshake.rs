//! The lonc side of the lond handshake (spec §3.1) as a pure state machine.
//!
//! `init` → challenge → echo it back verbatim → `ok` → pause `loncPongDelay` → `pong` (answer
//! logged) → `ekey` → buildkey line **with** its newline → key. The child feeds events in and
//! performs the returned actions; nothing here touches sockets or clocks, so every path is unit
//! tested. Deadlines (the whole handshake is bounded by `loncInitTimeout`) belong to the child.

use super::cipher;
use super::linebuf::chomp;
use super::log::shown;

/// Where the handshake stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// TCP connect in progress.
    Connecting,
    /// `init` sent, waiting for the challenge.
    AwaitChallenge,
    /// Challenge echoed, waiting for `ok`.
    AwaitOk,
    /// `ok` received, pausing before `pong`.
    PongDelay,
    /// `pong` sent.
    AwaitPong,
    /// `ekey` sent.
    AwaitEkey,
    /// Key derived; the link is usable.
    Up,
}

/// What happened on the link.
#[derive(Debug)]
pub enum Event<'a> {
    /// The TCP connect completed.
    Connected,
    /// One line from lond, including its `\n`.
    Line(&'a [u8]),
    /// The pause before `pong` is over.
    DelayOver,
}

/// What the child must do.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Write these bytes to lond.
    Send(Vec<u8>),
    /// Start the `loncPongDelay` pause; feed `DelayOver` when it ends.
    StartDelay,
    /// Log this message.
    Log(String),
    /// Set the process status (shown in log lines and on the status page) to this.
    Status(String),
    /// The handshake failed: log `WARNING: Init failed <id> (<st> secs)`, back off, exit.
    Fail,
    /// The link is up with this IDEA key.
    Up([u8; 16]),
}

/// Advance the handshake for peer `remote` as local host `local`.
pub fn step(phase: Phase, ev: Event, remote: &str, local: &str) -> (Phase, Vec<Action>) {
    use Action::*;
    match (phase, ev) {
        (Phase::Connecting, Event::Connected) => {
            (Phase::AwaitChallenge, vec![Send(b"init\n".to_vec())])
        }
        (Phase::AwaitChallenge, Event::Line(l)) => {
            // Sent back exactly as received, newline included.
            (Phase::AwaitOk, vec![Send(l.to_vec())])
        }
        (Phase::AwaitOk, Event::Line(l)) => {
            if chomp(l) == b"ok" {
                (Phase::PongDelay, vec![StartDelay])
            } else {
                (
                    phase,
                    vec![
                        Log(format!("Init reply for {remote}: >{}<", shown(chomp(l)))),
                        Fail,
                    ],
                )
            }
        }
        (Phase::PongDelay, Event::DelayOver) => (Phase::AwaitPong, vec![Send(b"pong\n".to_vec())]),
        (Phase::AwaitPong, Event::Line(l)) => (
            Phase::AwaitEkey,
            vec![
                Log(format!("Pong reply for {remote}: >{}<", shown(chomp(l)))),
                // 1.29: status("Initialize cipher: <id>") before sending ekey.
                Status(format!("Initialize cipher: {remote}")),
                Send(b"ekey\n".to_vec()),
            ],
        ),
        (Phase::AwaitEkey, Event::Line(l)) => {
            // 1.29 keeps the buildkey's newline in the key string (research §7.1).
            let key = cipher::derive_key(remote, local, l);
            (
                Phase::Up,
                vec![
                    Log(format!("Secure connection initialized: {remote}")),
                    Up(key),
                ],
            )
        }
        (p, Event::Line(l)) => (
            p,
            vec![
                Log(format!(
                    "WARNING: Unexpected line from {remote} during init: >{}<",
                    shown(chomp(l))
                )),
                Fail,
            ],
        ),
        // A stray DelayOver/Connected is ignored: it can only come from a stale timer.
        (p, _) => (p, Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lines: &[&[u8]]) -> (Phase, Vec<Action>) {
        let mut all = Vec::new();
        let (mut p, a) = step(Phase::Connecting, Event::Connected, "msul1", "msua3");
        all.extend(a);
        for l in lines {
            if p == Phase::PongDelay {
                let (np, a) = step(p, Event::DelayOver, "msul1", "msua3");
                p = np;
                all.extend(a);
            }
            let (np, a) = step(p, Event::Line(l), "msul1", "msua3");
            p = np;
            all.extend(a);
            if all.contains(&Action::Fail) {
                break;
            }
        }
        (p, all)
    }

    #[test]
    fn full_handshake_derives_key_with_newline() {
        let (p, acts) = run(&[
            b"123451014652091\n",
            b"ok\n",
            b"msul1:msua3\n",
            b"48213A0ADFEB09AABCDE7C9B055021\n",
        ]);
        assert_eq!(p, Phase::Up);
        let sends: Vec<&[u8]> = acts
            .iter()
            .filter_map(|a| {
                if let Action::Send(b) = a {
                    Some(&b[..])
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(
            sends,
            vec![&b"init\n"[..], b"123451014652091\n", b"pong\n", b"ekey\n"]
        );
        assert!(acts.contains(&Action::StartDelay));
        assert!(acts.contains(&Action::Log("Pong reply for msul1: >msul1:msua3<".into())));
        let status = acts
            .iter()
            .position(|a| *a == Action::Status("Initialize cipher: msul1".into()))
            .unwrap();
        let ekey = acts
            .iter()
            .position(|a| *a == Action::Send(b"ekey\n".to_vec()))
            .unwrap();
        assert!(status < ekey);
        let key = acts
            .iter()
            .find_map(|a| {
                if let Action::Up(k) = a {
                    Some(*k)
                } else {
                    None
                }
            })
            .unwrap();
        // Research §7.7 vector 1.
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "62451624a348213a0adfeb09aabcde7c");
    }

    #[test]
    fn refused_init_fails_with_reply_logged() {
        let (_, acts) = run(&[b"123\n", b"refused\n"]);
        assert!(acts.contains(&Action::Log("Init reply for msul1: >refused<".into())));
        assert_eq!(acts.last(), Some(&Action::Fail));
    }

    #[test]
    fn challenge_echo_keeps_carriage_return() {
        let (p, acts) = step(Phase::AwaitChallenge, Event::Line(b"12\r\n"), "a", "b");
        assert_eq!(p, Phase::AwaitOk);
        assert_eq!(acts, vec![Action::Send(b"12\r\n".to_vec())]);
    }

    #[test]
    fn line_during_pong_delay_is_a_failure() {
        let (_, acts) = step(Phase::PongDelay, Event::Line(b"junk\n"), "a", "b");
        assert_eq!(acts.last(), Some(&Action::Fail));
    }
}
