//! Verification: events in seq order and the signed checkpoints in, a [`Report`] out.
//!
//! The verifier streams: events are pushed one at a time (a trail of millions never sits in memory),
//! checkpoints are given up front (there are few). For each event it checks, in order:
//! 1. its number follows the previous one (a gap is a deleted event, a step back a reordering);
//! 2. its `prev_hash` is the previous event's `hash` (the genesis value for the first event);
//! 3. its `hash` is the hash of `prev_hash` and its content (any edited column shows here);
//! 4. when a checkpoint names its number, the checkpoint's head is its hash and the count matches.
//!
//! Then every checkpoint's signature is checked against the trusted keys, each stored checkpoint
//! must name the one before it (a deleted checkpoint breaks the next one's link), and a checkpoint
//! beyond the last event means the newest events were deleted.
//!
//! What the database alone cannot show is a consistent rewrite of the events after the newest
//! checkpoint, or their deletion together with the newest checkpoints and the head row: whoever
//! writes the database can make a shorter trail look whole. Anchors held outside it close that gap:
//! checkpoints published as they were signed ([`Verifier::anchor_published`]: each must still be
//! stored, unchanged, and reached by the chain) and heads an auditor wrote down
//! ([`Verifier::anchor`]). Without them, the report says how many events only the chain protects.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::chain::{ChainHash, ChainedEvent, GENESIS, chain_hash};
use crate::checkpoint::{SignatureProblem, SignedCheckpoint, broken_links};
use crate::keys::PublicKey;

/// How many problems a report lists.
pub const MAX_PROBLEMS: usize = 1_000;

/// How much of the chain the events are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The whole chain from its first event. `legacy_through`: events up to this number were stored
    /// before the chain existed and chained on upgrade; database sequences may have skipped numbers
    /// among them, so gaps there are not deletions (their links are still checked).
    Whole { legacy_through: u64 },
    /// A contiguous stretch (`--from`/`--to`): the first event's `prev_hash` is taken as given.
    Range,
    /// A selection with gaps (one entity's events): each event is checked on its own, and a
    /// checkpoint only when the event it names is included.
    Selection,
}

/// One thing found wrong. Variants name the event (`seq`) or checkpoint where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The stored hash is not the hash of the stored content: the event was altered.
    ContentAltered { seq: u64 },
    /// Numbers `from..=to` are missing: events were deleted.
    Missing { from: u64, to: u64 },
    /// The event comes after a higher number: events were reordered.
    OutOfOrder { seq: u64, after: u64 },
    /// `prev_hash` is not the previous event's hash though no number is missing: events were
    /// reordered, or one was replaced with its hashes recomputed.
    LinkBroken { seq: u64 },
    /// The row has no hash: it was written outside Fabrique.
    Unchained { seq: u64 },
    /// A hash column is not 64 hex digits.
    MalformedHash { seq: u64 },
    /// A signed checkpoint names a different hash for this event: the chain was rewritten.
    CheckpointMismatch { seq: u64 },
    /// A signed checkpoint counted a different number of events up to this one.
    CountMismatch { seq: u64, signed: u64, found: u64 },
    /// The event a checkpoint names is not there.
    CheckpointEventMissing { seq: u64 },
    /// A signed checkpoint is beyond the last event: the newest events were deleted.
    Truncated {
        checkpoint_seq: u64,
        last_seq: Option<u64>,
    },
    /// The checkpoint's signature does not verify with any trusted key.
    BadSignature { seq: u64, public_key: String },
    /// The checkpoint is signed by a key that is not trusted.
    UntrustedKey { seq: u64, public_key: String },
    /// The checkpoint's head or signature does not decode.
    MalformedCheckpoint { seq: u64 },
    /// The stored chain head disagrees with the last event: rows were deleted or added around it.
    HeadMismatch {
        head_seq: u64,
        last_seq: Option<u64>,
    },
    /// A stored event is numbered beyond the chain head, which no append does: it was added
    /// outside Fabrique.
    BeyondHead { seq: u64 },
    /// The checkpoint does not name the checkpoint stored before it: one between them was deleted
    /// or replaced.
    CheckpointUnlinked { seq: u64 },
    /// A checkpoint published when it was signed is not among the stored ones: it was deleted.
    CheckpointDeleted { seq: u64 },
    /// The stored checkpoint differs from the one published when it was signed.
    PublishedMismatch { seq: u64 },
    /// The event's hash is not the one the auditor expects ([`Verifier::anchor`]).
    AnchorMismatch { seq: u64 },
    /// The event the auditor expects ([`Verifier::anchor`]) is not there.
    AnchorMissing { seq: u64, last_seq: Option<u64> },
}

impl Problem {
    /// The number the problem is about, to order the report.
    pub fn seq(&self) -> u64 {
        match *self {
            Problem::ContentAltered { seq }
            | Problem::OutOfOrder { seq, .. }
            | Problem::LinkBroken { seq }
            | Problem::Unchained { seq }
            | Problem::MalformedHash { seq }
            | Problem::CheckpointMismatch { seq }
            | Problem::CountMismatch { seq, .. }
            | Problem::CheckpointEventMissing { seq }
            | Problem::BadSignature { seq, .. }
            | Problem::UntrustedKey { seq, .. }
            | Problem::MalformedCheckpoint { seq }
            | Problem::BeyondHead { seq }
            | Problem::CheckpointUnlinked { seq }
            | Problem::CheckpointDeleted { seq }
            | Problem::PublishedMismatch { seq }
            | Problem::AnchorMismatch { seq }
            | Problem::AnchorMissing { seq, .. } => seq,
            Problem::Missing { from, .. } => from,
            Problem::Truncated { last_seq, .. } | Problem::HeadMismatch { last_seq, .. } => {
                last_seq.map_or(1, |last| last + 1)
            }
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::ContentAltered { seq } => write!(
                f,
                "seq {seq}: content altered (its hash does not match its fields)"
            ),
            Problem::Missing { from, to } if from == to => {
                write!(f, "seq {from}: event missing (deleted)")
            }
            Problem::Missing { from, to } => {
                write!(f, "seq {from}: events {from} to {to} missing (deleted)")
            }
            Problem::OutOfOrder { seq, after } => {
                write!(
                    f,
                    "seq {seq}: out of order (comes after seq {after}): events reordered"
                )
            }
            Problem::LinkBroken { seq } => write!(
                f,
                "seq {seq}: prev_hash is not the previous event's hash: events reordered or replaced"
            ),
            Problem::Unchained { seq } => {
                write!(f, "seq {seq}: event has no hash: written outside the chain")
            }
            Problem::MalformedHash { seq } => write!(f, "seq {seq}: hash is not 64 hex digits"),
            Problem::CheckpointMismatch { seq } => write!(
                f,
                "seq {seq}: the signed checkpoint names another hash: the chain was rewritten up to here"
            ),
            Problem::CountMismatch { seq, signed, found } => write!(
                f,
                "seq {seq}: the signed checkpoint counted {signed} events up to here, the chain has {found}"
            ),
            Problem::CheckpointEventMissing { seq } => {
                write!(
                    f,
                    "seq {seq}: the event a signed checkpoint names is missing"
                )
            }
            Problem::Truncated {
                checkpoint_seq,
                last_seq,
            } => match last_seq {
                Some(last) => write!(
                    f,
                    "seq {}: chain truncated: it ends at seq {last} but a signed checkpoint covers seq {checkpoint_seq}",
                    last + 1
                ),
                None => write!(
                    f,
                    "chain truncated: no events, but a signed checkpoint covers seq {checkpoint_seq}"
                ),
            },
            Problem::BadSignature { seq, public_key } => write!(
                f,
                "checkpoint at seq {seq}: bad signature (not a valid signature by {public_key})"
            ),
            Problem::UntrustedKey { seq, public_key } => write!(
                f,
                "checkpoint at seq {seq}: bad signature: signed by {public_key}, which is not a trusted key"
            ),
            Problem::MalformedCheckpoint { seq } => write!(
                f,
                "checkpoint at seq {seq}: head or signature is not valid hex"
            ),
            Problem::BeyondHead { seq } => write!(
                f,
                "seq {seq}: event beyond the chain head: added outside Fabrique"
            ),
            Problem::CheckpointUnlinked { seq } => write!(
                f,
                "checkpoint at seq {seq}: it does not name the checkpoint stored before it: a checkpoint was deleted or replaced"
            ),
            Problem::CheckpointDeleted { seq } => write!(
                f,
                "checkpoint at seq {seq}: published when it was signed, but not in the trail: it was deleted"
            ),
            Problem::PublishedMismatch { seq } => write!(
                f,
                "checkpoint at seq {seq}: differs from the checkpoint published when it was signed"
            ),
            Problem::AnchorMismatch { seq } => write!(
                f,
                "seq {seq}: its hash is not the expected one: the chain was rewritten up to here"
            ),
            Problem::AnchorMissing { seq, last_seq } => match last_seq {
                Some(last) if last < seq => write!(
                    f,
                    "seq {seq}: the expected event is not in the trail, which ends at seq {last}: truncated"
                ),
                _ => write!(f, "seq {seq}: the expected event is not in the trail"),
            },
            Problem::HeadMismatch { head_seq, last_seq } => write!(
                f,
                "chain head says seq {head_seq} but the last event is {}: events deleted or added outside Fabrique",
                last_seq.map_or("none".to_owned(), |s| format!("seq {s}"))
            ),
        }
    }
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub scope: Scope,
    pub events: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// The last event's stored hash.
    pub last_hash: Option<String>,
    /// Checkpoints whose signature verified.
    pub checkpoints_signed: usize,
    /// The newest checkpoint whose signature verified and whose head matched an event.
    pub last_anchored_seq: Option<u64>,
    /// Events after `last_anchored_seq`, protected by the chain alone.
    pub unanchored_events: u64,
    /// Anchors held outside the store that were checked: published checkpoints and expected
    /// heads.
    pub outside_anchors: usize,
    /// The problems found, ordered by number; at most [`MAX_PROBLEMS`]. Empty means verified.
    pub problems: Vec<Problem>,
    /// Problems found beyond [`MAX_PROBLEMS`].
    pub problems_omitted: u64,
}

impl Report {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What an auditor holds outside the store: checkpoints published as they were signed, and heads
/// written down as `(seq, hash)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutsideAnchors {
    pub published: Vec<SignedCheckpoint>,
    pub expected: Vec<(u64, ChainHash)>,
}

/// Checks a chain pushed event by event; see the module documentation.
#[derive(Debug)]
pub struct Verifier {
    scope: Scope,
    trusted: Vec<PublicKey>,
    checkpoints: BTreeMap<u64, Vec<SignedCheckpoint>>,
    /// Checkpoints whose head matched an event they name.
    matched: BTreeSet<u64>,
    /// Numbers named by a checkpoint whose event was seen, matching or not.
    named_seen: BTreeSet<u64>,
    previous: Option<Previous>,
    events: u64,
    first_seq: Option<u64>,
    expected_head: Option<(u64, String)>,
    /// Seqs of the published checkpoints.
    published: BTreeSet<u64>,
    /// Seqs of published checkpoints that are not among the stored ones.
    published_only: BTreeSet<u64>,
    /// Seqs whose stored checkpoint differs from the published one.
    published_differs: BTreeSet<u64>,
    /// Heads the auditor expects, and whether each event was seen.
    anchors: BTreeMap<u64, (ChainHash, bool)>,
    problems: Vec<Problem>,
    problems_omitted: u64,
}

/// Why a stored hash could not be used.
enum Stored {
    Absent,
    Malformed,
}

fn parse_hash(text: Option<&str>) -> Result<ChainHash, Stored> {
    text.ok_or(Stored::Absent)?
        .parse()
        .map_err(|_| Stored::Malformed)
}

#[derive(Debug)]
struct Previous {
    seq: u64,
    hash: Option<ChainHash>,
    hash_text: Option<String>,
}

impl Verifier {
    pub fn new(
        scope: Scope,
        trusted: Vec<PublicKey>,
        checkpoints: Vec<SignedCheckpoint>,
    ) -> Verifier {
        let mut by_seq: BTreeMap<u64, Vec<SignedCheckpoint>> = BTreeMap::new();
        for checkpoint in checkpoints {
            by_seq.entry(checkpoint.seq).or_default().push(checkpoint);
        }
        Verifier {
            scope,
            trusted,
            checkpoints: by_seq,
            matched: BTreeSet::new(),
            named_seen: BTreeSet::new(),
            previous: None,
            events: 0,
            first_seq: None,
            expected_head: None,
            published: BTreeSet::new(),
            published_only: BTreeSet::new(),
            published_differs: BTreeSet::new(),
            anchors: BTreeMap::new(),
            problems: Vec::new(),
            problems_omitted: 0,
        }
    }

    /// Every anchor of `anchors` ([`Verifier::anchor_published`], [`Verifier::anchor`]); call
    /// before pushing events.
    pub fn anchor_all(&mut self, anchors: OutsideAnchors) {
        self.anchor_published(anchors.published);
        for (seq, hash) in anchors.expected {
            self.anchor(seq, hash);
        }
    }

    /// Checkpoints published outside the store as they were signed; call before pushing events.
    /// Each within the verified span must be among the stored checkpoints, unchanged, and is
    /// checked against the events like them.
    pub fn anchor_published(&mut self, published: Vec<SignedCheckpoint>) {
        for checkpoint in published {
            let seq = checkpoint.seq;
            self.published.insert(seq);
            let stored = self.checkpoints.entry(seq).or_default();
            if stored.contains(&checkpoint) {
                continue;
            }
            if stored.is_empty() {
                self.published_only.insert(seq);
            } else if !self.published_only.contains(&seq) {
                self.published_differs.insert(seq);
            }
            stored.push(checkpoint);
        }
    }

    /// An event's hash held outside the store (`fabrique audit verify --expect seq:hash`): the
    /// event must be there with that hash.
    pub fn anchor(&mut self, seq: u64, hash: ChainHash) {
        self.anchors.insert(seq, (hash, false));
    }

    /// Starts after a point already verified (the newest checkpoint, whose head is `hash` at `seq`
    /// after `event_count` events): the next event pushed must follow it.
    pub fn resume_after(&mut self, seq: u64, hash: ChainHash, event_count: u64) {
        self.previous = Some(Previous {
            seq,
            hash: Some(hash),
            hash_text: Some(hash.to_string()),
        });
        self.events = event_count;
    }

    /// The chain head as the store records it (`seq` 0 for an empty chain), checked against the
    /// last event at the end.
    pub fn expect_head(&mut self, seq: u64, hash: String) {
        self.expected_head = Some((seq, hash));
    }

    /// Records that the store holds an event numbered `seq` beyond its chain head.
    pub fn event_beyond_head(&mut self, seq: u64) {
        self.report(Problem::BeyondHead { seq });
    }

    /// Checks the next event, in the order read.
    pub fn push(&mut self, event: &ChainedEvent) {
        let seq = event.seq;
        self.events += 1;
        self.first_seq.get_or_insert(seq);
        let stored = match (
            parse_hash(event.prev_hash.as_deref()),
            parse_hash(event.hash.as_deref()),
        ) {
            (Ok(prev), Ok(hash)) => Some((prev, hash)),
            (Err(Stored::Absent), _) | (_, Err(Stored::Absent)) => {
                self.report(Problem::Unchained { seq });
                None
            }
            _ => {
                self.report(Problem::MalformedHash { seq });
                None
            }
        };

        let gap_reported = self.check_order(seq);
        if let (Some((prev, _)), false) = (stored, gap_reported) {
            let expected = match (&self.previous, self.scope) {
                (Some(previous), Scope::Whole { .. } | Scope::Range) => previous.hash,
                (None, Scope::Whole { .. }) => Some(GENESIS),
                _ => None,
            };
            if expected.is_some_and(|expected| expected != prev) {
                self.report(Problem::LinkBroken { seq });
            }
        }
        if let Some((prev, hash)) = stored
            && chain_hash(&prev, &event.content()) != hash
        {
            self.report(Problem::ContentAltered { seq });
        }
        self.check_checkpoints(seq, event.hash.as_deref());
        if let Some((expected, seen)) = self.anchors.get_mut(&seq) {
            *seen = true;
            if parse_hash(event.hash.as_deref()).ok() != Some(*expected) {
                let problem = Problem::AnchorMismatch { seq };
                self.report(problem);
            }
        }
        self.previous = Some(Previous {
            seq,
            hash: stored.map(|(_, hash)| hash),
            hash_text: event.hash.clone(),
        });
    }

    /// Ends the verification: signatures, links, truncation, anchors, the stored head.
    pub fn finish(mut self) -> Report {
        let last_seq = self.previous.as_ref().map(|p| p.seq);
        let checkpoints = std::mem::take(&mut self.checkpoints);
        let signed = self.check_signatures_and_reach(&checkpoints, last_seq);
        self.check_links(&checkpoints);
        self.check_published(last_seq);
        let outside_anchors = self.check_anchors(last_seq);
        self.check_head(last_seq);
        let last_anchored_seq = signed
            .iter()
            .copied()
            .filter(|seq| self.matched.contains(seq))
            .max();
        let unanchored_events = match (last_anchored_seq, last_seq) {
            (Some(anchor), Some(last)) => last.saturating_sub(anchor),
            (None, _) => self.events,
            (Some(_), None) => 0,
        };
        self.problems.sort_by_key(Problem::seq);
        Report {
            scope: self.scope,
            events: self.events,
            first_seq: self.first_seq,
            last_seq,
            last_hash: self.previous.and_then(|p| p.hash_text),
            checkpoints_signed: signed.len(),
            last_anchored_seq,
            unanchored_events,
            outside_anchors,
            problems: self.problems,
            problems_omitted: self.problems_omitted,
        }
    }

    /// Whether `seq` is within what was verified: everything for the whole chain, the events seen
    /// for a range or selection.
    fn within_span(&self, seq: u64, last_seq: Option<u64>) -> bool {
        match self.scope {
            Scope::Whole { .. } => true,
            Scope::Range | Scope::Selection => self
                .first_seq
                .zip(last_seq)
                .is_some_and(|(first, last)| (first..=last).contains(&seq)),
        }
    }

    /// Checks every checkpoint's signature and that its event was reached; returns the seqs of
    /// those whose signature verified.
    fn check_signatures_and_reach(
        &mut self,
        checkpoints: &BTreeMap<u64, Vec<SignedCheckpoint>>,
        last_seq: Option<u64>,
    ) -> Vec<u64> {
        let mut signed = Vec::new();
        for (&seq, checkpoints) in checkpoints {
            if self.published_only.contains(&seq) && !self.within_span(seq, last_seq) {
                continue;
            }
            for checkpoint in checkpoints {
                match checkpoint.check(&self.trusted) {
                    Ok(()) => signed.push(seq),
                    Err(SignatureProblem::Malformed) => {
                        self.report(Problem::MalformedCheckpoint { seq })
                    }
                    Err(SignatureProblem::UntrustedKey) => self.report(Problem::UntrustedKey {
                        seq,
                        public_key: checkpoint.public_key.clone(),
                    }),
                    Err(SignatureProblem::Invalid) => self.report(Problem::BadSignature {
                        seq,
                        public_key: checkpoint.public_key.clone(),
                    }),
                }
            }
            if self.scope == Scope::Selection || self.named_seen.contains(&seq) {
                continue;
            }
            match last_seq {
                Some(last) if seq <= last => self.report(Problem::CheckpointEventMissing { seq }),
                _ => self.report(Problem::Truncated {
                    checkpoint_seq: seq,
                    last_seq,
                }),
            }
        }
        signed
    }

    /// Each stored checkpoint names the one stored before it; the first of the whole chain names
    /// the genesis value.
    fn check_links(&mut self, checkpoints: &BTreeMap<u64, Vec<SignedCheckpoint>>) {
        let stored: Vec<SignedCheckpoint> = checkpoints
            .iter()
            .filter(|(seq, _)| !self.published_only.contains(seq))
            .filter_map(|(_, list)| list.first().cloned())
            .collect();
        let before = match self.scope {
            Scope::Whole { .. } => Some(GENESIS),
            Scope::Range | Scope::Selection => None,
        };
        for broken in broken_links(before, &stored) {
            self.report(Problem::CheckpointUnlinked { seq: broken.seq });
        }
    }

    fn check_published(&mut self, last_seq: Option<u64>) {
        let deleted: Vec<u64> = self
            .published_only
            .iter()
            .copied()
            .filter(|&seq| self.within_span(seq, last_seq))
            .collect();
        for seq in deleted {
            self.report(Problem::CheckpointDeleted { seq });
        }
        for seq in std::mem::take(&mut self.published_differs) {
            self.report(Problem::PublishedMismatch { seq });
        }
    }

    /// Reports the expected heads never seen; returns how many anchors held outside the store
    /// were checked.
    fn check_anchors(&mut self, last_seq: Option<u64>) -> usize {
        let anchors = std::mem::take(&mut self.anchors);
        for (&seq, &(_, seen)) in &anchors {
            if !seen && self.scope != Scope::Selection {
                self.report(Problem::AnchorMissing { seq, last_seq });
            }
        }
        let published = self
            .published
            .iter()
            .filter(|&&seq| self.within_span(seq, last_seq))
            .count();
        anchors.len() + published
    }

    fn check_head(&mut self, last_seq: Option<u64>) {
        if let Some((head_seq, head_hash)) = self.expected_head.take() {
            let last_hash = self.previous.as_ref().and_then(|p| p.hash_text.as_deref());
            let consistent = match last_seq {
                None => head_seq == 0,
                Some(last) => head_seq == last && last_hash == Some(head_hash.as_str()),
            };
            if !consistent {
                self.problems
                    .push(Problem::HeadMismatch { head_seq, last_seq });
            }
        }
    }

    /// Records a problem; past [`MAX_PROBLEMS`] only counts it, so that a wholly broken trail of
    /// millions of events still gives a readable report.
    fn report(&mut self, problem: Problem) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(problem);
        } else {
            self.problems_omitted += 1;
        }
    }

    /// Numbering: reports a step back or, in a contiguous scope, a gap. Returns whether a gap or
    /// step back was reported, which explains a broken link by itself.
    fn check_order(&mut self, seq: u64) -> bool {
        let Some(previous) = &self.previous else {
            // A whole chain starts at 1 unless it began with legacy events.
            if let Scope::Whole { legacy_through } = self.scope
                && seq > 1
                && legacy_through == 0
            {
                self.report(Problem::Missing {
                    from: 1,
                    to: seq - 1,
                });
                return true;
            }
            return false;
        };
        if seq <= previous.seq {
            self.report(Problem::OutOfOrder {
                seq,
                after: previous.seq,
            });
            return true;
        }
        let gap_allowed = match self.scope {
            Scope::Whole { legacy_through } => seq <= legacy_through,
            Scope::Range => false,
            Scope::Selection => true,
        };
        if seq > previous.seq + 1 && !gap_allowed {
            self.report(Problem::Missing {
                from: previous.seq + 1,
                to: seq - 1,
            });
            return true;
        }
        false
    }

    fn check_checkpoints(&mut self, seq: u64, hash: Option<&str>) {
        let Some(checkpoints) = self.checkpoints.get(&seq) else {
            return;
        };
        self.named_seen.insert(seq);
        let mut problems = Vec::new();
        for checkpoint in checkpoints {
            if Some(checkpoint.head.as_str()) != hash {
                problems.push(Problem::CheckpointMismatch { seq });
            } else if matches!(self.scope, Scope::Whole { .. })
                && checkpoint.event_count != self.events
            {
                problems.push(Problem::CountMismatch {
                    seq,
                    signed: checkpoint.event_count,
                    found: self.events,
                });
            }
        }
        if problems.is_empty() {
            self.matched.insert(seq);
        }
        problems.dedup();
        for problem in problems {
            self.report(problem);
        }
    }
}
