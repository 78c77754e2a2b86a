//! The response cache's rules, with time given: what is cached, under which key, for how long,
//! and how much of it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use domain::{EntityId, KeyOwner, ModelIdx, Operation, UserId};
use identity::Principal;
use wire::object::RawObject;

use super::{Held, Lookup, Request, ResponseCache, Settings};

const TTL: Duration = Duration::from_secs(60);

/// A cache of model 0 and the use case `faq`, of `max_entries` answers of 64 bytes at most.
fn cache(max_entries: usize) -> Arc<ResponseCache> {
    Arc::new(ResponseCache {
        settings: Some(Settings {
            models: vec![true, false],
            use_cases: ["faq".to_owned()].into_iter().collect(),
            ttl: TTL,
            max_entries,
            max_entry_bytes: 64,
        }),
        held: parking_lot::Mutex::new(Held::default()),
    })
}

fn principal(entity: EntityId) -> Principal {
    Principal {
        key_id: None,
        owner: KeyOwner::User(UserId::generate()),
        entity_id: Some(entity),
        entity_slug: Some(Arc::from("retail-bank")),
        roles: Vec::new(),
        classification: None,
        models: None,
        expires_at: None,
        priority: None,
    }
}

fn request<'a>(principal: &'a Principal, object: &'a RawObject<'a>) -> Request<'a> {
    Request {
        principal,
        use_case: None,
        model: ModelIdx::new(0),
        operation: Operation::Chat,
        object,
        answer_filtered: false,
    }
}

/// Looks `request` up at `now`, keeping `answer` on a miss; the answer held before, if any.
fn serve(
    cache: &Arc<ResponseCache>,
    request: &Request<'_>,
    answer: &str,
    now: Instant,
) -> Option<Bytes> {
    match cache.look_up(request, now) {
        Lookup::Hit(held) => Some(held),
        Lookup::Miss(keeping) => {
            keeping
                .cache
                .put(keeping.key, Bytes::from(answer.to_owned()), now);
            None
        }
        Lookup::Off => panic!("the request should be cached"),
    }
}

const BODY: &[u8] = br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;

#[test]
fn the_same_request_of_the_same_entity_is_answered_from_the_cache() {
    let (cache, now) = (cache(10), Instant::now());
    let caller = principal(EntityId::generate());
    let object = RawObject::parse(BODY).unwrap();
    assert_eq!(
        serve(&cache, &request(&caller, &object), "first", now),
        None
    );
    // Fields in another order are the same request; another user of the entity shares it.
    let reordered = br#"{"messages":[{"role":"user","content":"hi"}],"model":"m"}"#;
    let object = RawObject::parse(reordered).unwrap();
    let colleague = principal(caller.entity_id.unwrap());
    let held = serve(&cache, &request(&colleague, &object), "second", now);
    assert_eq!(held.as_deref(), Some(&b"first"[..]));
}

#[test]
fn another_entity_never_gets_an_entitys_answer() {
    let (cache, now) = (cache(10), Instant::now());
    let object = RawObject::parse(BODY).unwrap();
    let ours = principal(EntityId::generate());
    let theirs = principal(EntityId::generate());
    serve(&cache, &request(&ours, &object), "ours", now);
    assert_eq!(
        serve(&cache, &request(&theirs, &object), "theirs", now),
        None
    );
    let held = serve(&cache, &request(&ours, &object), "again", now);
    assert_eq!(held.as_deref(), Some(&b"ours"[..]));
}

#[test]
fn an_answer_lives_its_ttl_then_misses() {
    let (cache, start) = (cache(10), Instant::now());
    let caller = principal(EntityId::generate());
    let object = RawObject::parse(BODY).unwrap();
    serve(&cache, &request(&caller, &object), "old", start);
    let just_before = start + TTL - Duration::from_millis(1);
    let held = serve(&cache, &request(&caller, &object), "unused", just_before);
    assert_eq!(held.as_deref(), Some(&b"old"[..]));
    assert_eq!(
        serve(&cache, &request(&caller, &object), "new", start + TTL),
        None
    );
    let held = serve(&cache, &request(&caller, &object), "unused", start + TTL);
    assert_eq!(held.as_deref(), Some(&b"new"[..]));
}

#[test]
fn the_least_recently_used_goes_first_and_large_answers_are_not_kept() {
    let (cache, now) = (cache(2), Instant::now());
    let caller = principal(EntityId::generate());
    let bodies = [0, 1, 2].map(|n| format!(r#"{{"model":"m","messages":[],"n":{n}}}"#));
    let objects: Vec<RawObject<'_>> = bodies
        .iter()
        .map(|b| RawObject::parse(b.as_bytes()).unwrap())
        .collect();
    serve(&cache, &request(&caller, &objects[0]), "zero", now);
    serve(&cache, &request(&caller, &objects[1]), "one", now);
    // Using the first makes the second the least recent: the third pushes it out.
    assert!(serve(&cache, &request(&caller, &objects[0]), "", now).is_some());
    serve(&cache, &request(&caller, &objects[2]), "two", now);
    assert_eq!(cache.len(), 2);
    assert!(serve(&cache, &request(&caller, &objects[0]), "", now).is_some());
    assert_eq!(
        serve(&cache, &request(&caller, &objects[1]), &"x".repeat(65), now),
        None
    );
    assert_eq!(serve(&cache, &request(&caller, &objects[1]), "", now), None);
}

#[test]
fn only_named_models_and_use_cases_without_answer_rewriting_are_cached() {
    let (cache, now) = (cache(10), Instant::now());
    let caller = principal(EntityId::generate());
    let object = RawObject::parse(BODY).unwrap();
    let off = |request: &Request<'_>| matches!(cache.look_up(request, now), Lookup::Off);
    let other_model = Request {
        model: ModelIdx::new(1),
        ..request(&caller, &object)
    };
    assert!(off(&other_model));
    let named_use_case = Request {
        use_case: Some("faq"),
        ..other_model
    };
    assert!(!off(&named_use_case));
    let fim = Request {
        operation: Operation::Fim,
        ..request(&caller, &object)
    };
    assert!(off(&fim));
    let filtered = Request {
        answer_filtered: true,
        ..request(&caller, &object)
    };
    assert!(off(&filtered));
    let disabled = ResponseCache {
        settings: None,
        held: parking_lot::Mutex::new(Held::default()),
    };
    let disabled = Arc::new(disabled);
    assert!(matches!(
        disabled.look_up(&request(&caller, &object), now),
        Lookup::Off
    ));
}
