//! Which queued request goes out next, and when links open and close: pure decisions, no I/O,
//! time passed in (spec §3.3, §8.6).
//!
//! Requests are kept in arrival order. A free link takes the oldest request whose client has
//! no request in flight: each client's next request waits for its previous answer, so every
//! client's answers come back in the order of its lines however many links there are. With
//! one link this is 1.29's strict arrival order, one request at a time.
//!
//! `close_connection_exit` is a barrier: nothing queued after it is sent, and it acts once it
//! is the oldest entry and no exchange is in flight (with one link: when the link is free).
//!
//! When link 1 is lost or the child stops, every queued request is answered `con_lost`
//! (spec §7.1, §7.7), but still in the order of each client's lines: the requests of a client
//! with a request in flight on a live link become [`Req::Lost`] and wait for that answer (or
//! that link's loss); then they are answered `con_lost`, oldest first ([`doom`], [`take_lost`]).
//!
//! The first link is persistent. Extra links (up to `loncLinks`) open while requests wait
//! that no free or opening link will take, and close after `loncLinkIdle` unused. After one
//! failed to open, none opens before the retry time; the loop wakes for that time only while
//! it is ahead ([`retry_wake`]): once it has passed, the next demand opens a link at once and
//! nothing is left to wait for (a past wake-up time would make every poll return at once).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::lonc::clients::ClientId;

/// One queued entry.
#[derive(Debug, PartialEq, Eq)]
pub enum Req {
    Relay {
        cid: ClientId,
        line: Vec<u8>,
    },
    CloseExit,
    /// A request that gets `con_lost` (link 1 was lost, or the child stops) once its client's
    /// request in flight is answered: never sent.
    Lost {
        cid: ClientId,
    },
}

/// What a free link should do.
#[derive(Debug, PartialEq, Eq)]
pub enum Pick {
    /// Send the request at this index of the queue.
    Relay(usize),
    /// The `close_connection_exit` at the front acts now.
    CloseExit,
}

/// The next entry for a free link: the oldest relay whose client has nothing in flight and no
/// older `Lost` entry, up to the first `close_connection_exit`; that one when it is oldest and
/// `in_flight` is 0.
pub fn pick(
    queue: &VecDeque<Req>,
    busy: impl Fn(ClientId) -> bool,
    in_flight: usize,
) -> Option<Pick> {
    // Clients whose older lines still wait for their `con_lost` (empty, unallocated, as a rule).
    let mut owed: Vec<ClientId> = Vec::new();
    for (i, r) in queue.iter().enumerate() {
        match r {
            Req::Relay { cid, .. } if !busy(*cid) && !owed.contains(cid) => {
                return Some(Pick::Relay(i))
            }
            Req::Relay { .. } => {}
            Req::Lost { cid } => owed.push(*cid),
            Req::CloseExit if i == 0 && in_flight == 0 => return Some(Pick::CloseExit),
            Req::CloseExit => return None,
        }
    }
    None
}

/// How many queued requests a link could take now: one per client with nothing in flight
/// (its later lines wait for the first), up to the first `close_connection_exit`.
pub fn sendable(queue: &VecDeque<Req>, busy: impl Fn(ClientId) -> bool) -> usize {
    let mut seen: Vec<ClientId> = Vec::new();
    let mut owed: Vec<ClientId> = Vec::new();
    for r in queue {
        match r {
            Req::Relay { cid, .. } => {
                if !busy(*cid) && !seen.contains(cid) && !owed.contains(cid) {
                    seen.push(*cid);
                }
            }
            Req::Lost { cid } => owed.push(*cid),
            Req::CloseExit => break,
        }
    }
    seen.len()
}

/// Link 1 lost, or the child stops: every queued request is to be answered `con_lost`, each
/// client's in the order of its lines. Returns the clients to answer now, one entry per
/// request, oldest first; the requests of a client with a request in flight (`busy`) stay in
/// the queue as [`Req::Lost`], behind nothing of theirs. `close_connection_exit` entries go.
pub fn doom(queue: &mut VecDeque<Req>, busy: impl Fn(ClientId) -> bool) -> Vec<ClientId> {
    queue.retain_mut(|r| match r {
        Req::Relay { cid, .. } => {
            *r = Req::Lost { cid: *cid };
            true
        }
        Req::Lost { .. } => true,
        Req::CloseExit => false,
    });
    take_lost(queue, busy)
}

/// The `Lost` entries answered `con_lost` now, removed from the queue, oldest first: those of
/// clients with nothing in flight and no older request still queued.
pub fn take_lost(queue: &mut VecDeque<Req>, busy: impl Fn(ClientId) -> bool) -> Vec<ClientId> {
    let mut now = Vec::new();
    let mut ahead: Vec<ClientId> = Vec::new();
    queue.retain(|r| match r {
        Req::Lost { cid } if !busy(*cid) && !ahead.contains(cid) => {
            now.push(*cid);
            false
        }
        Req::Lost { cid } | Req::Relay { cid, .. } => {
            ahead.push(*cid);
            true
        }
        Req::CloseExit => true,
    });
    now
}

/// Whether any queued entry waits for its `con_lost`.
pub fn any_lost(queue: &VecDeque<Req>) -> bool {
    queue.iter().any(|r| matches!(r, Req::Lost { .. }))
}

/// The links of one child at a glance, for the open policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkCount {
    /// `loncLinks`.
    pub max: usize,
    /// Links that exist (any phase), the first included.
    pub open: usize,
    /// Extra links still connecting or in their handshake.
    pub opening: usize,
    /// The first link is serving (handshake and delayed replay done).
    pub first_ready: bool,
}

/// How many extra links to open now: as many as requests wait that no link takes (after the
/// free links took theirs), less those already opening, within `loncLinks`; none while the
/// first link is not serving, the child is not serving, or before `retry_at` (after a failed
/// extra link).
pub fn extra_links_wanted(
    c: LinkCount,
    waiting: usize,
    serving: bool,
    retry_at: Option<Instant>,
    now: Instant,
) -> usize {
    if !serving || !c.first_ready || retry_at.is_some_and(|t| now < t) {
        return 0;
    }
    waiting
        .saturating_sub(c.opening)
        .min(c.max.saturating_sub(c.open))
}

/// When the loop must wake for the retry of a failed extra link: at `retry_at` while it is
/// ahead of `now`; never once it has passed (the next demand then opens a link without
/// waiting, so a past time is only forgotten, never waited for).
pub fn retry_wake(retry_at: Option<Instant>, now: Instant) -> Option<Instant> {
    retry_at.filter(|&t| now < t)
}

/// When an idle extra link closes: `loncLinkIdle` after it was last used. The first link
/// (`slot` 0) never closes for idleness.
pub fn idle_close_at(slot: usize, idle_since: Instant, link_idle: Duration) -> Option<Instant> {
    (slot > 0).then(|| idle_since + link_idle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(items: &[(ClientId, &str)]) -> VecDeque<Req> {
        items
            .iter()
            .map(|&(cid, l)| {
                if l == "close_connection_exit" {
                    Req::CloseExit
                } else {
                    Req::Relay {
                        cid,
                        line: l.as_bytes().to_vec(),
                    }
                }
            })
            .collect()
    }

    #[test]
    fn one_link_serves_in_arrival_order() {
        let queue = q(&[(1, "a"), (2, "b"), (1, "c")]);
        assert_eq!(pick(&queue, |_| false, 0), Some(Pick::Relay(0)));
    }

    #[test]
    fn a_clients_next_request_waits_for_its_previous_answer() {
        // Client 1 has a request in flight: its next line waits, client 2's goes first.
        let queue = q(&[(1, "a2"), (2, "b1"), (1, "a3")]);
        assert_eq!(pick(&queue, |c| c == 1, 1), Some(Pick::Relay(1)));
        // Both busy: nothing goes, even with a free link.
        assert_eq!(pick(&queue, |_| true, 2), None);
    }

    #[test]
    fn close_connection_exit_is_a_barrier() {
        let queue = q(&[(1, "close_connection_exit"), (2, "b")]);
        assert_eq!(pick(&queue, |_| false, 0), Some(Pick::CloseExit));
        assert_eq!(
            pick(&queue, |_| false, 1),
            None,
            "waits for the exchange in flight"
        );
        let queue = q(&[(1, "a"), (3, "close_connection_exit"), (2, "b")]);
        assert_eq!(
            pick(&queue, |c| c == 1, 1),
            None,
            "nothing after it is sent"
        );
        assert_eq!(pick(&queue, |_| false, 0), Some(Pick::Relay(0)));
    }

    fn lost(cid: ClientId) -> Req {
        Req::Lost { cid }
    }

    #[test]
    fn a_request_waiting_for_its_con_lost_holds_back_its_clients_later_lines() {
        // Client 1's a2 waits for the answer to a1 (in flight when link 1 was lost); a3 came
        // after. Once a1 is answered, a3 must not overtake a2's con_lost.
        let mut queue = q(&[(2, "b"), (1, "a3")]);
        queue.push_front(lost(1));
        assert_eq!(pick(&queue, |_| false, 0), Some(Pick::Relay(1)), "b goes");
        queue.remove(1);
        assert_eq!(
            pick(&queue, |_| false, 0),
            None,
            "a3 waits for a2's con_lost"
        );
        assert_eq!(sendable(&queue, |_| false), 0);
    }

    #[test]
    fn sendable_counts_each_free_client_once() {
        let queue = q(&[(1, "a"), (1, "a2"), (2, "b"), (3, "c")]);
        assert_eq!(sendable(&queue, |_| false), 3);
        assert_eq!(sendable(&queue, |c| c == 2), 2);
        let queue = q(&[(1, "a"), (9, "close_connection_exit"), (2, "b")]);
        assert_eq!(sendable(&queue, |_| false), 1);
    }

    #[test]
    fn con_lost_for_the_queue_keeps_each_clients_order() {
        // Client 1 has a1 in flight on link 2, and a2, a3 queued; client 2 has b1, b2 queued;
        // link 1 is lost (or TERM).
        let mut queue = q(&[
            (1, "a2"),
            (2, "b1"),
            (3, "close_connection_exit"),
            (1, "a3"),
        ]);
        queue.push_back(Req::Relay {
            cid: 2,
            line: b"b2".to_vec(),
        });
        let now = doom(&mut queue, |c| c == 1);
        assert_eq!(now, vec![2, 2], "client 2's two requests, at once");
        assert_eq!(
            queue,
            VecDeque::from([lost(1), lost(1)]),
            "a2, a3 wait for a1"
        );
        assert_eq!(pick(&queue, |_| false, 0), None, "never sent");
        // a1 is still in flight: nothing more.
        assert_eq!(take_lost(&mut queue, |c| c == 1), Vec::<ClientId>::new());
        assert!(any_lost(&queue));
        // a1 answered (or its link lost): then a2's and a3's con_lost.
        assert_eq!(take_lost(&mut queue, |_| false), vec![1, 1]);
        assert!(queue.is_empty() && !any_lost(&queue));
    }

    #[test]
    fn a_lost_entry_never_overtakes_an_older_request_of_its_client() {
        let mut queue = q(&[(1, "a2")]);
        queue.push_back(lost(1));
        queue.push_back(lost(2));
        assert_eq!(take_lost(&mut queue, |_| false), vec![2]);
        assert_eq!(queue.len(), 2);
    }

    #[test]
    fn with_nothing_in_flight_the_whole_queue_is_answered_at_once() {
        let mut queue = q(&[(1, "a"), (2, "b"), (1, "a2")]);
        assert_eq!(doom(&mut queue, |_| false), vec![1, 2, 1]);
        assert!(queue.is_empty());
    }

    #[test]
    fn the_retry_time_is_waited_for_only_while_ahead() {
        let now = Instant::now();
        let later = now + Duration::from_millis(300);
        assert_eq!(retry_wake(None, now), None);
        assert_eq!(retry_wake(Some(later), now), Some(later));
        // Passed: forgotten, not a wake-up in the past (poll would return at once, forever).
        assert_eq!(retry_wake(Some(later), later), None);
        assert_eq!(retry_wake(Some(now), later), None);
    }

    #[test]
    fn extra_links_open_for_waiting_requests_within_the_limit() {
        let now = Instant::now();
        let c = LinkCount {
            max: 4,
            open: 1,
            opening: 0,
            first_ready: true,
        };
        assert_eq!(extra_links_wanted(c, 0, true, None, now), 0, "no demand");
        assert_eq!(extra_links_wanted(c, 2, true, None, now), 2);
        assert_eq!(extra_links_wanted(c, 10, true, None, now), 3, "loncLinks 4");
        let opening = LinkCount {
            open: 3,
            opening: 2,
            ..c
        };
        assert_eq!(extra_links_wanted(opening, 2, true, None, now), 0);
        assert_eq!(extra_links_wanted(opening, 3, true, None, now), 1);
    }

    #[test]
    fn no_extra_links_with_one_link_or_while_not_serving() {
        let now = Instant::now();
        let one = LinkCount {
            max: 1,
            open: 1,
            opening: 0,
            first_ready: true,
        };
        assert_eq!(
            extra_links_wanted(one, 50, true, None, now),
            0,
            "loncLinks 1 = 1.29"
        );
        let c = LinkCount { max: 4, ..one };
        assert_eq!(extra_links_wanted(c, 5, false, None, now), 0, "stopping");
        let first_down = LinkCount {
            first_ready: false,
            ..c
        };
        assert_eq!(extra_links_wanted(first_down, 5, true, None, now), 0);
    }

    #[test]
    fn a_failed_extra_link_is_retried_later() {
        let now = Instant::now();
        let c = LinkCount {
            max: 4,
            open: 1,
            opening: 0,
            first_ready: true,
        };
        let later = now + Duration::from_secs(1);
        assert_eq!(extra_links_wanted(c, 3, true, Some(later), now), 0);
        assert_eq!(extra_links_wanted(c, 3, true, Some(later), later), 3);
    }

    #[test]
    fn only_extra_links_close_when_idle() {
        let t = Instant::now();
        let idle = Duration::from_secs(300);
        assert_eq!(idle_close_at(0, t, idle), None);
        assert_eq!(idle_close_at(1, t, idle), Some(t + idle));
    }
}
