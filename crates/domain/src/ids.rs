//! Typed identifiers. Each is a UUIDv7 (time-ordered, so indexes stay append-mostly) shown with a
//! short prefix saying what it names, e.g. `ent_0190…`, so an id pasted in the wrong place is caught.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// An id string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {what} id (expected `{prefix}` followed by a UUID)")]
pub struct InvalidId {
    pub value: String,
    pub what: &'static str,
    pub prefix: &'static str,
}

macro_rules! typed_id {
    ($name:ident, $prefix:literal, $what:literal) => {
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub Uuid);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh, time-ordered id.
            pub fn generate() -> Self {
                $name(Uuid::now_v7())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", $prefix, self.0.simple())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                s.strip_prefix($prefix)
                    .and_then(|rest| Uuid::parse_str(rest).ok())
                    .map($name)
                    .ok_or_else(|| InvalidId {
                        value: s.to_owned(),
                        what: $what,
                        prefix: $prefix,
                    })
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

typed_id!(EntityId, "ent_", "entity");
typed_id!(UserId, "usr_", "user");
typed_id!(ServiceAccountId, "svc_", "service account");
typed_id!(KeyId, "key_", "API key");
typed_id!(TeamId, "team_", "team");
typed_id!(ScimTokenId, "sct_", "SCIM token");
typed_id!(SessionId, "ses_", "web session");
typed_id!(LegalHoldId, "hold_", "legal hold");
typed_id!(UseCaseDocumentId, "ucd_", "use-case document");
// `file-` and `batch_`: the prefixes OpenAI's ids have, which some clients check.
typed_id!(FileId, "file-", "file");
typed_id!(BatchId, "batch_", "batch");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_their_text_form() {
        let id = KeyId::generate();
        let text = id.to_string();
        assert!(text.starts_with("key_"));
        assert_eq!(text.parse::<KeyId>(), Ok(id));
    }

    #[test]
    fn an_id_of_another_kind_is_refused() {
        let user = UserId::generate().to_string();
        let err = user.parse::<KeyId>().unwrap_err();
        assert_eq!(err.what, "API key");
    }
}
