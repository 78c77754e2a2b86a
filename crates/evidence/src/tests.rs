//! The chain encoding, pinned; verification that finds altered, missing, reordered or truncated
//! events and checks signatures; keys and export lines.

use crate::export::{ExportLine, Header};
use crate::{
    AuditSigner, ChainHash, ChainedEvent, Checkpoint, EventContent, GENESIS, KeyError, Problem,
    PublicKey, Report, Scope, SignedCheckpoint, Verifier, chain_hash,
};

fn event(seq: u64, prev: &ChainHash) -> ChainedEvent {
    let mut event = ChainedEvent {
        seq,
        at: 1_700_000_000_000 + seq as i64,
        actor: format!("key_{seq}"),
        action: "entity.create".into(),
        entity_id: seq.is_multiple_of(2).then(|| "ent_0192".to_owned()),
        target: format!("target-{seq}"),
        outcome: "success".into(),
        detail: format!(r#"{{"n":{seq}}}"#),
        prev_hash: Some(prev.to_string()),
        hash: None,
    };
    event.hash = Some(chain_hash(prev, &event.content()).to_string());
    event
}

/// A valid chain of `n` events numbered from 1.
fn chain(n: u64) -> Vec<ChainedEvent> {
    let mut events = Vec::new();
    let mut prev = GENESIS;
    for seq in 1..=n {
        let e = event(seq, &prev);
        prev = e.hash.as_deref().unwrap().parse().unwrap();
        events.push(e);
    }
    events
}

fn signer() -> AuditSigner {
    AuditSigner::from_seed([7; 32])
}

/// The first checkpoint, at `seq`.
fn checkpoint_at(events: &[ChainedEvent], seq: u64, signer: &AuditSigner) -> SignedCheckpoint {
    linked(events, &[seq], signer).remove(0)
}

/// Checkpoints at `seqs`, each naming the one before it, the first naming the genesis value.
fn linked(events: &[ChainedEvent], seqs: &[u64], signer: &AuditSigner) -> Vec<SignedCheckpoint> {
    let mut signed: Vec<SignedCheckpoint> = Vec::new();
    for &seq in seqs {
        let position = events.iter().position(|e| e.seq == seq).unwrap();
        let checkpoint = Checkpoint {
            seq,
            head: events[position].hash.as_deref().unwrap().parse().unwrap(),
            at: 1_800_000_000_000 + seq as i64,
            event_count: position as u64 + 1,
            previous: Checkpoint::previous_of(signed.last()).unwrap(),
        };
        signed.push(checkpoint.sign(signer));
    }
    signed
}

fn check(
    scope: Scope,
    events: &[ChainedEvent],
    checkpoints: Vec<SignedCheckpoint>,
    trusted: &[PublicKey],
) -> Report {
    let mut verifier = Verifier::new(scope, trusted.to_vec(), checkpoints);
    for event in events {
        verifier.push(event);
    }
    verifier.finish()
}

const WHOLE: Scope = Scope::Whole { legacy_through: 0 };

#[test]
fn the_encoding_is_pinned() {
    // If this changes, every stored chain stops verifying: the encoding is a format, not a detail.
    // The value was computed by a separate implementation of the documented encoding (a few lines
    // of Python with hashlib and struct), not by this crate.
    let events = chain(2);
    assert_eq!(
        events[1].hash.as_deref().unwrap(),
        "88d1698379b738567dfa074e3fa3c68cc47dea408edd0ec8fe399e376125422c"
    );
}

#[test]
fn field_boundaries_and_absence_change_the_hash() {
    let base = event(1, &GENESIS);
    let mut shifted = base.clone();
    shifted.actor = format!("{}t", base.actor);
    shifted.action = base.action[1..].to_owned();
    let mut empty_entity = base.clone();
    empty_entity.entity_id = Some(String::new());
    let hashes: Vec<_> = [&base, &shifted, &empty_entity]
        .iter()
        .map(|e| chain_hash(&GENESIS, &e.content()))
        .collect();
    assert_ne!(hashes[0], hashes[1]);
    assert_ne!(hashes[0], hashes[2]);
    assert_eq!(base.entity_id, None);
}

#[test]
fn content_of_a_domain_event_matches_its_stored_form() {
    let event = domain::AuditEvent {
        at: 5,
        actor: "system".into(),
        action: domain::AuditAction::KeyRevoke,
        entity_id: None,
        target: "key_1".into(),
        outcome: domain::Outcome::Denied,
        detail: "{}".into(),
    };
    let content = EventContent::of(9, &event, Some("ent_x"));
    assert_eq!(
        (content.outcome, content.entity_id, content.seq),
        ("denied", Some("ent_x"), 9)
    );
}

#[test]
fn an_intact_chain_with_signed_checkpoints_verifies() {
    let events = chain(10);
    let signer = signer();
    let checkpoints = linked(&events, &[4, 8], &signer);
    let report = check(WHOLE, &events, checkpoints, &[signer.public_key()]);
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(
        (
            report.events,
            report.checkpoints_signed,
            report.last_anchored_seq,
            report.unanchored_events
        ),
        (10, 2, Some(8), 2)
    );
}

#[test]
fn an_altered_field_names_its_event() {
    for field in 0..4 {
        let mut events = chain(5);
        let target = &mut events[2];
        match field {
            0 => target.detail = r#"{"n":999}"#.into(),
            1 => target.outcome = "failure".into(),
            2 => target.entity_id = Some("ent_other".into()),
            _ => target.at += 1,
        }
        let report = check(WHOLE, &events, vec![], &[]);
        assert_eq!(report.problems, [Problem::ContentAltered { seq: 3 }]);
    }
}

#[test]
fn a_deleted_event_is_reported_missing() {
    let mut events = chain(6);
    events.remove(3);
    let report = check(WHOLE, &events, vec![], &[]);
    assert_eq!(report.problems, [Problem::Missing { from: 4, to: 4 }]);

    let mut first_gone = chain(3);
    first_gone.remove(0);
    let report = check(WHOLE, &first_gone, vec![], &[]);
    assert_eq!(report.problems, [Problem::Missing { from: 1, to: 1 }]);
}

#[test]
fn reordered_events_are_reported() {
    let mut events = chain(5);
    events.swap(1, 2);
    let report = check(WHOLE, &events, vec![], &[]);
    assert_eq!(report.problems[0], Problem::Missing { from: 2, to: 2 });
    assert!(
        report
            .problems
            .contains(&Problem::OutOfOrder { seq: 2, after: 3 }),
        "{:?}",
        report.problems
    );
}

#[test]
fn a_rewritten_chain_fails_at_the_signed_head() {
    // Delete event 3 and recompute every later hash and number, so the chain itself is consistent:
    // only the signed checkpoint can tell.
    let original = chain(6);
    let signer = signer();
    let checkpoint = checkpoint_at(&original, 5, &signer);
    let mut rewritten = Vec::new();
    let mut prev = GENESIS;
    for (seq, source) in (1..).zip(original.iter().filter(|e| e.seq != 3)) {
        let mut e = source.clone();
        e.seq = seq;
        e.prev_hash = Some(prev.to_string());
        prev = chain_hash(&prev, &e.content());
        e.hash = Some(prev.to_string());
        rewritten.push(e);
    }
    let chain_only = check(WHOLE, &rewritten, vec![], &[]);
    assert!(chain_only.is_ok(), "the rewrite is consistent on its own");
    let report = check(WHOLE, &rewritten, vec![checkpoint], &[signer.public_key()]);
    assert_eq!(report.problems, [Problem::CheckpointMismatch { seq: 5 }]);
}

#[test]
fn deleting_the_newest_events_after_a_checkpoint_is_truncation() {
    let events = chain(8);
    let signer = signer();
    let checkpoint = checkpoint_at(&events, 8, &signer);
    let report = check(
        WHOLE,
        &events[..5],
        vec![checkpoint],
        &[signer.public_key()],
    );
    assert_eq!(
        report.problems,
        [Problem::Truncated {
            checkpoint_seq: 8,
            last_seq: Some(5)
        }]
    );
    assert_eq!(
        report.problems[0].to_string(),
        "seq 6: chain truncated: it ends at seq 5 but a signed checkpoint covers seq 8"
    );
}

#[test]
fn signatures_are_checked_against_the_trusted_keys_only() {
    let events = chain(3);
    let signer = signer();
    let checkpoint = checkpoint_at(&events, 3, &signer);
    let stranger = AuditSigner::from_seed([9; 32]).public_key();

    let report = check(WHOLE, &events, vec![checkpoint.clone()], &[stranger]);
    assert!(
        matches!(&report.problems[..], [Problem::UntrustedKey { seq: 3, .. }]),
        "{:?}",
        report.problems
    );

    let mut forged = checkpoint.clone();
    forged.event_count = 2;
    let report = check(WHOLE, &events, vec![forged], &[signer.public_key()]);
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(p, Problem::BadSignature { seq: 3, .. })),
        "{:?}",
        report.problems
    );

    // A rotated key: both trusted, either signature is accepted.
    let report = check(
        WHOLE,
        &events,
        vec![checkpoint],
        &[stranger, signer.public_key()],
    );
    assert!(report.is_ok(), "{:?}", report.problems);
}

#[test]
fn unchained_and_malformed_rows_are_named() {
    let mut events = chain(3);
    events[0].hash = None;
    events[2].prev_hash = Some("XYZ".into());
    let report = check(WHOLE, &events, vec![], &[]);
    assert!(report.problems.contains(&Problem::Unchained { seq: 1 }));
    assert!(report.problems.contains(&Problem::MalformedHash { seq: 3 }));
}

#[test]
fn ranges_anchor_on_their_first_event_and_selections_allow_gaps() {
    let events = chain(9);
    let report = check(Scope::Range, &events[3..], vec![], &[]);
    assert!(report.is_ok(), "{:?}", report.problems);

    let selection: Vec<_> = events
        .iter()
        .filter(|e| e.seq.is_multiple_of(3))
        .cloned()
        .collect();
    let signer = signer();
    let checkpoints = linked(&events, &[6, 7], &signer);
    let report = check(
        Scope::Selection,
        &selection,
        checkpoints,
        &[signer.public_key()],
    );
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.last_anchored_seq, Some(6));

    let mut altered = selection.clone();
    altered[1].detail.push(' ');
    let report = check(Scope::Selection, &altered, vec![], &[]);
    assert_eq!(report.problems, [Problem::ContentAltered { seq: 6 }]);
}

#[test]
fn legacy_events_may_have_gaps_later_events_may_not() {
    let mut events = chain(8);
    events.remove(2); // seq 3, before legacy_through
    events.remove(4); // seq 6, after it
    let report = check(Scope::Whole { legacy_through: 4 }, &events, vec![], &[]);
    // The legacy gap is allowed, but the links still show the deletion.
    assert_eq!(
        report.problems,
        [
            Problem::LinkBroken { seq: 4 },
            Problem::Missing { from: 6, to: 6 }
        ]
    );
}

#[test]
fn the_stored_head_must_be_the_last_event() {
    let events = chain(4);
    let mut verifier = Verifier::new(WHOLE, vec![], vec![]);
    verifier.expect_head(6, "00".repeat(32));
    for event in &events {
        verifier.push(event);
    }
    let report = verifier.finish();
    assert_eq!(
        report.problems,
        [Problem::HeadMismatch {
            head_seq: 6,
            last_seq: Some(4)
        }]
    );
}

#[test]
fn keys_read_as_hex_or_base64_and_errors_never_echo_the_text() {
    let signer = AuditSigner::from_seed([1; 32]);
    let hex = signer.seed_hex();
    let base64 = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    for text in [hex.as_str(), base64, base64.trim_end_matches('='), "  \n"] {
        let parsed = AuditSigner::from_seed_text(&format!("{text}\n"));
        if text.trim().is_empty() {
            assert!(parsed.is_err());
        } else {
            assert_eq!(parsed.unwrap().public_key(), signer.public_key());
        }
    }
    let error = AuditSigner::from_seed_text("secret-but-short").unwrap_err();
    assert_eq!(error, KeyError::NotThirtyTwoBytes(16));
    assert!(!error.to_string().contains("secret"));

    let public = signer.public_key();
    assert_eq!(public.to_string().parse::<PublicKey>().unwrap(), public);
    assert!(!format!("{signer:?}").contains(&hex));
}

#[test]
fn hashes_have_one_spelling() {
    let text = "ab".repeat(32);
    assert_eq!(text.parse::<ChainHash>().unwrap().to_string(), text);
    assert!(text.to_uppercase().parse::<ChainHash>().is_err());
    assert!("ab".parse::<ChainHash>().is_err());
}

#[test]
fn export_lines_round_trip_as_tagged_json() {
    let events = chain(1);
    let header = ExportLine::Header(Header {
        format: crate::export::FORMAT.into(),
        public_keys: vec![signer().public_key().to_string()],
        from: None,
        to: None,
        entity: None,
        legacy_through: 0,
        exported_at: 1,
    });
    for line in [
        header,
        ExportLine::Event(events[0].clone()),
        ExportLine::Checkpoint(checkpoint_at(&events, 1, &signer())),
    ] {
        let text = serde_json::to_string(&line).unwrap();
        assert!(text.starts_with(r#"{"type":"#), "{text}");
        assert_eq!(serde_json::from_str::<ExportLine>(&text).unwrap(), line);
    }
}

#[test]
fn a_deleted_middle_checkpoint_breaks_the_next_ones_link() {
    let events = chain(9);
    let signer = signer();
    let mut checkpoints = linked(&events, &[3, 6, 9], &signer);
    let report = check(WHOLE, &events, checkpoints.clone(), &[signer.public_key()]);
    assert!(report.is_ok(), "{:?}", report.problems);

    checkpoints.remove(1);
    let report = check(WHOLE, &events, checkpoints.clone(), &[signer.public_key()]);
    assert_eq!(report.problems, [Problem::CheckpointUnlinked { seq: 9 }]);
    assert_eq!(
        report.problems[0].to_string(),
        "checkpoint at seq 9: it does not name the checkpoint stored before it: a checkpoint was deleted or replaced"
    );

    // The first one too: the whole chain's first checkpoint names the genesis value.
    let report = check(
        WHOLE,
        &events,
        checkpoints[1..].to_vec(),
        &[signer.public_key()],
    );
    assert_eq!(report.problems, [Problem::CheckpointUnlinked { seq: 9 }]);
    // A range does not know what came before its first checkpoint.
    let report = check(
        Scope::Range,
        &events[6..],
        checkpoints[1..].to_vec(),
        &[signer.public_key()],
    );
    assert!(report.is_ok(), "{:?}", report.problems);
}

#[test]
fn unlinked_checkpoints_of_before_the_link_still_verify_and_are_linked_to() {
    let events = chain(6);
    let signer = signer();
    // An unlinked checkpoint as older versions signed it.
    let mut message = Vec::new();
    crate::chain::push_text(&mut message, "fabrique.audit.checkpoint.v1");
    message.extend_from_slice(&3u64.to_be_bytes());
    let head: ChainHash = events[2].hash.as_deref().unwrap().parse().unwrap();
    message.extend_from_slice(&head.0);
    message.extend_from_slice(&5i64.to_be_bytes());
    message.extend_from_slice(&3u64.to_be_bytes());
    let old = SignedCheckpoint {
        seq: 3,
        head: head.to_string(),
        at: 5,
        event_count: 3,
        previous: None,
        public_key: signer.public_key().to_string(),
        signature: hex::encode(signer.sign(&message)),
    };
    let new = Checkpoint {
        seq: 6,
        head: events[5].hash.as_deref().unwrap().parse().unwrap(),
        at: 6,
        event_count: 6,
        previous: Checkpoint::previous_of(Some(&old)).unwrap(),
    }
    .sign(&signer);
    let report = check(WHOLE, &events, vec![old, new], &[signer.public_key()]);
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.checkpoints_signed, 2);
}

#[test]
fn a_published_checkpoint_deleted_from_the_store_with_its_events_is_found() {
    // The careful vandal deletes the newest events, the checkpoints covering them and moves the
    // head back: the stored trail is consistent, a shorter history.
    let events = chain(9);
    let signer = signer();
    let published = linked(&events, &[3, 6, 9], &signer);
    let stored = published[..2].to_vec();
    let kept = &events[..6];
    let report = check(WHOLE, kept, stored.clone(), &[signer.public_key()]);
    assert!(report.is_ok(), "undetectable from the store alone");

    let mut verifier = Verifier::new(WHOLE, vec![signer.public_key()], stored);
    verifier.anchor_published(published.clone());
    for event in kept {
        verifier.push(event);
    }
    let report = verifier.finish();
    assert_eq!(
        report.problems,
        [
            Problem::Truncated {
                checkpoint_seq: 9,
                last_seq: Some(6)
            },
            Problem::CheckpointDeleted { seq: 9 },
        ]
    );
    assert_eq!(report.outside_anchors, 3);

    // A stored checkpoint replaced by another one signed over the same head.
    let mut replaced = published.clone();
    replaced[1].at += 1;
    let mut verifier = Verifier::new(WHOLE, vec![signer.public_key()], replaced);
    verifier.anchor_published(published);
    for event in &events {
        verifier.push(event);
    }
    let problems = verifier.finish().problems;
    assert!(
        problems.contains(&Problem::PublishedMismatch { seq: 6 }),
        "{problems:?}"
    );
}

#[test]
fn published_checkpoints_outside_an_exported_range_are_not_expected_in_it() {
    let events = chain(9);
    let signer = signer();
    let published = linked(&events, &[3, 6, 9], &signer);
    let mut verifier = Verifier::new(
        Scope::Range,
        vec![signer.public_key()],
        vec![published[1].clone()],
    );
    verifier.anchor_published(published);
    for event in &events[4..7] {
        verifier.push(event);
    }
    let report = verifier.finish();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.outside_anchors, 1);
}

#[test]
fn an_expected_head_must_be_reached_with_its_hash() {
    let events = chain(8);
    let hash_of =
        |seq: usize| -> ChainHash { events[seq - 1].hash.as_deref().unwrap().parse().unwrap() };
    let verify = |events: &[ChainedEvent], seq: u64, hash: ChainHash| {
        let mut verifier = Verifier::new(WHOLE, vec![], vec![]);
        verifier.anchor(seq, hash);
        for event in events {
            verifier.push(event);
        }
        verifier.finish()
    };
    let report = verify(&events, 6, hash_of(6));
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.outside_anchors, 1);
    assert_eq!(
        verify(&events, 6, hash_of(5)).problems,
        [Problem::AnchorMismatch { seq: 6 }]
    );
    let truncated = verify(&events[..4], 6, hash_of(6));
    assert_eq!(
        truncated.problems,
        [Problem::AnchorMissing {
            seq: 6,
            last_seq: Some(4)
        }]
    );
    assert_eq!(
        truncated.problems[0].to_string(),
        "seq 6: the expected event is not in the trail, which ends at seq 4: truncated"
    );
}

#[test]
fn a_verification_resumed_after_a_checkpoint_checks_only_what_follows() {
    let events = chain(8);
    let signer = signer();
    let newest = checkpoint_at(&events, 5, &signer);
    let resumed = |events: &[ChainedEvent]| {
        let mut verifier = Verifier::new(WHOLE, vec![], vec![]);
        verifier.resume_after(newest.seq, newest.head_hash().unwrap(), newest.event_count);
        let last = events.last().unwrap();
        verifier.expect_head(last.seq, last.hash.clone().unwrap());
        for event in events {
            verifier.push(event);
        }
        verifier.finish()
    };
    let report = resumed(&events[5..]);
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.events, 8);

    // An event after the checkpoint rewritten with every later hash recomputed: it no longer
    // descends from the signed head.
    let mut rewritten = events[5..].to_vec();
    rewritten[0].prev_hash = Some(GENESIS.to_string());
    let mut prev = GENESIS;
    for event in &mut rewritten {
        event.prev_hash = Some(prev.to_string());
        prev = chain_hash(&prev, &event.content());
        event.hash = Some(prev.to_string());
    }
    assert_eq!(
        resumed(&rewritten).problems,
        [Problem::LinkBroken { seq: 6 }]
    );
}
