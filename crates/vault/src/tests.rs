//! The key hierarchy: wrapping down to the content, fresh nonces, and refusal of altered bytes.

use super::*;

fn master() -> MasterKey {
    MasterKey::from_bytes([7; KEY_LEN])
}

const BINDING: RecordBinding<'static> = RecordBinding {
    record_id: "cnt_1",
    entity_id: "ent_a",
    owner: "user:usr_1",
};

#[test]
fn the_hierarchy_wraps_and_unwraps_down_to_the_content() {
    let data_key = DataKey::generate();
    let wrapped_data = master().wrap("ent_a", &data_key);
    let data_key = master().unwrap("ent_a", &wrapped_data).expect("data key");
    let content_key = ContentKey::generate();
    let wrapped_content = data_key.wrap("ent_a", "user:usr_1", &content_key);
    let content_key = data_key
        .unwrap("ent_a", "user:usr_1", &wrapped_content)
        .expect("content key");
    let sealed = content_key.seal(&BINDING, b"Bonjour, mon IBAN est FR76...");
    assert!(
        !sealed.windows(7).any(|w| w == b"Bonjour"),
        "the content is not in clear"
    );
    assert_eq!(
        content_key.open(&BINDING, &sealed).expect("opens"),
        b"Bonjour, mon IBAN est FR76..."
    );
}

#[test]
fn the_same_content_seals_differently_each_time() {
    let key = ContentKey::generate();
    assert_ne!(key.seal(&BINDING, b"x"), key.seal(&BINDING, b"x"));
}

#[test]
fn any_altered_byte_is_refused() {
    let key = ContentKey::generate();
    let sealed = key.seal(&BINDING, b"the prompt");
    for index in 1..sealed.len() {
        let mut tampered = sealed.clone();
        tampered[index] ^= 0x01;
        assert_eq!(
            key.open(&BINDING, &tampered),
            Err(VaultError::Unauthentic),
            "byte {index}"
        );
    }
    let mut versioned = sealed.clone();
    versioned[0] = 9;
    assert!(matches!(
        key.open(&BINDING, &versioned),
        Err(VaultError::Malformed(_))
    ));
    assert!(matches!(
        key.open(&BINDING, &sealed[..10]),
        Err(VaultError::Malformed(_))
    ));
    assert!(matches!(
        key.open(&BINDING, &[]),
        Err(VaultError::Malformed(_))
    ));
}

#[test]
fn a_record_moved_to_another_row_entity_or_owner_does_not_open() {
    let key = ContentKey::generate();
    let sealed = key.seal(&BINDING, b"the prompt");
    for other in [
        RecordBinding {
            record_id: "cnt_2",
            ..BINDING
        },
        RecordBinding {
            entity_id: "ent_b",
            ..BINDING
        },
        RecordBinding {
            owner: "user:usr_2",
            ..BINDING
        },
        // Field boundaries count: moving a character across them changes the context.
        RecordBinding {
            record_id: "cnt_1e",
            entity_id: "nt_a",
            ..BINDING
        },
    ] {
        assert_eq!(key.open(&other, &sealed), Err(VaultError::Unauthentic));
    }
}

#[test]
fn a_wrapped_key_opens_only_for_its_entity_and_owner_under_its_key() {
    let data_key = DataKey::generate();
    let wrapped = master().wrap("ent_a", &data_key);
    assert!(master().unwrap("ent_b", &wrapped).is_err());
    assert!(
        MasterKey::from_bytes([8; KEY_LEN])
            .unwrap("ent_a", &wrapped)
            .is_err()
    );

    let content_key = ContentKey::generate();
    let wrapped = data_key.wrap("ent_a", "user:usr_1", &content_key);
    assert!(data_key.unwrap("ent_a", "user:usr_2", &wrapped).is_err());
    assert!(data_key.unwrap("ent_b", "user:usr_1", &wrapped).is_err());
    assert!(
        DataKey::generate()
            .unwrap("ent_a", "user:usr_1", &wrapped)
            .is_err()
    );
}

#[test]
fn another_content_key_cannot_open_a_record() {
    let sealed = ContentKey::generate().seal(&BINDING, b"the prompt");
    assert_eq!(
        ContentKey::generate().open(&BINDING, &sealed),
        Err(VaultError::Unauthentic)
    );
}

#[test]
fn master_keys_are_32_bytes_of_base64_and_never_shown() {
    let text = base64::engine::general_purpose::STANDARD.encode([3u8; KEY_LEN]);
    let key = MasterKey::from_base64(&text).expect("valid");
    assert_eq!(key, MasterKey::from_bytes([3; KEY_LEN]));
    assert_eq!(
        MasterKey::from_base64(text.trim_end_matches('=')).expect("unpadded"),
        key
    );
    assert_eq!(format!("{key:?}"), "MasterKey(<redacted>)");
    assert!(matches!(
        MasterKey::from_base64("not base64!"),
        Err(VaultError::BadMasterKey(_))
    ));
    let short = base64::engine::general_purpose::STANDARD.encode([3u8; 16]);
    assert!(matches!(
        MasterKey::from_base64(&short),
        Err(VaultError::BadMasterKey(_))
    ));
}
