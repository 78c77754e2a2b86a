//! The chat's conversations on both backends: one row a message, listed by owner, the end of a
//! conversation rewritten from a position, read from its end in pages, an owner's messages read
//! for a search, renamed, pinned, deleted with their messages, and erased with their owner's
//! content key.

use domain::{AuditAction, KeyOwner, UserId};
use store::{Store, StoredConversation, StoredMessage};

use crate::audit;

fn message(conversation: &str, position: i64, text: &[u8]) -> StoredMessage {
    StoredMessage {
        id: format!("msg-{conversation}-{position}-{}", text.len()),
        conversation_id: conversation.to_owned(),
        position,
        role: if position % 2 == 0 {
            "user"
        } else {
            "assistant"
        }
        .to_owned(),
        created_at: 100 + position,
        request_id: (position % 2 == 1).then(|| format!("req-{position}")),
        sealed: text.to_vec(),
    }
}

pub async fn conversations_keep_one_row_a_message_and_go_with_their_owner(store: &Store) {
    let acme = store
        .create_entity("acme", "Acme", &audit(AuditAction::EntityCreate))
        .await
        .unwrap()
        .id;
    let (ada, bob) = (UserId::generate(), UserId::generate());
    let conversation = |id: &str, owner: UserId, at: i64| StoredConversation {
        id: id.to_owned(),
        owner,
        entity_id: acme,
        created_at: at,
        updated_at: at,
        pinned: false,
        sealed_title: vec![0, 1, 255],
    };
    for (id, owner, at) in [("c1", ada, 1), ("c2", ada, 2), ("c3", bob, 3)] {
        store
            .create_conversation(&conversation(id, owner, at), &[])
            .await
            .unwrap();
    }
    let with_question = [message("c4", 0, b"q0")];
    let c4 = conversation("c4", bob, 4);
    store
        .create_conversation(&c4, &with_question)
        .await
        .unwrap();
    let rows = store.messages_of("c4").await.unwrap();
    assert_eq!(rows.len(), 1, "created with its first question: {rows:?}");
    let mine: Vec<String> = store
        .conversations_of(ada, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(mine, ["c2", "c1"], "the owner's, most recent first");

    let first = [message("c1", 0, b"q1"), message("c1", 1, b"a1")];
    store.append_messages("c1", &first, 50).await.unwrap();
    let next = [message("c1", 2, b"q2"), message("c1", 3, b"a2")];
    store.append_messages("c1", &next, 60).await.unwrap();
    let regenerated = [message("c1", 3, b"a2, again")];
    store.append_messages("c1", &regenerated, 70).await.unwrap();
    let rows = store.messages_of("c1").await.unwrap();
    let texts: Vec<&[u8]> = rows.iter().map(|m| m.sealed.as_slice()).collect();
    assert_eq!(texts, [&b"q1"[..], b"a1", b"q2", b"a2, again"]);
    assert_eq!(rows[1].request_id.as_deref(), Some("req-1"));
    let positions = |rows: Vec<StoredMessage>| rows.iter().map(|m| m.position).collect::<Vec<_>>();
    let newest = store.messages_before("c1", i64::MAX, 10).await.unwrap();
    assert_eq!(positions(newest), [3, 2, 1, 0], "read from the end");
    let page = store.messages_before("c1", 3, 2).await.unwrap();
    assert_eq!(positions(page), [2, 1], "a page before a position");
    assert!(store.messages_before("c1", 0, 10).await.unwrap().is_empty());
    assert!(store.messages_before("c2", 9, 10).await.unwrap().is_empty());
    assert_eq!(rows[0].request_id, None);
    assert!(store.conversation_answered("c1", "req-1").await.unwrap());
    assert!(!store.conversation_answered("c2", "req-1").await.unwrap());
    let c1 = store.conversation("c1").await.unwrap().unwrap();
    assert_eq!(c1.updated_at, 70);
    store
        .append_messages("c3", &[message("c3", 0, b"bob's")], 80)
        .await
        .unwrap();
    let adas = store.messages_owned_by(ada, 100).await.unwrap();
    let adas: Vec<&str> = adas.iter().map(|m| m.conversation_id.as_str()).collect();
    assert_eq!(adas, ["c1"; 4], "the owner's messages only, a search opens");
    assert_eq!(store.messages_owned_by(ada, 2).await.unwrap().len(), 2);

    store.rename_conversation("c1", &[7, 7]).await.unwrap();
    store.pin_conversation("c1", true).await.unwrap();
    let c1 = store.conversation("c1").await.unwrap().unwrap();
    assert_eq!((c1.sealed_title, c1.pinned), (vec![7, 7], true));

    store.delete_conversation("c2").await.unwrap();
    assert!(store.conversation("c2").await.unwrap().is_none());

    store
        .erase_content(KeyOwner::User(ada), 0, &audit(AuditAction::UserErase))
        .await
        .unwrap();
    assert!(store.conversation("c1").await.unwrap().is_none());
    assert!(store.messages_of("c1").await.unwrap().is_empty());
    assert!(
        store.conversation("c3").await.unwrap().is_some(),
        "bob's stay"
    );
}
