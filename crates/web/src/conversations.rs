//! Conversations kept on the server, for people whose entity's retention is `full`: one row per
//! conversation and one per message (`store`), titles and messages sealed under the person's
//! content key (`retention`, `vault`), so erasing the person erases them. For `none` and
//! `metadata` nothing is kept and the page says so.
//!
//! Every access to a conversation — opened by its id ([`Keeper::owned`]), listed, searched —
//! goes through one ownership check (`admit`): a conversation of another person answers as if
//! it did not exist, whatever the action.

use std::collections::HashMap;
use std::sync::Arc;

use domain::{KeyOwner, UnixMillis, now_millis};
use retention::ContentStore;
use store::{Store, StoredConversation, StoredMessage};
use vault::{ContentKey, RecordBinding};

use crate::prompt::{self, Window};
use crate::search::Needle;
use crate::visitor::Person;

/// How many conversations the list shows, and a search looks through.
const LISTED: u32 = 200;
/// How many messages a search opens at most, the most recent conversations' first.
const SEARCHED: u32 = 10_000;
/// The first page of a history read for a question, from its end: most questions need no more.
const FIRST_PAGE: u32 = 32;
/// The largest page of a history, so one query never holds a huge conversation at once.
const LARGEST_PAGE: u32 = 1_024;

/// What a person may do to a conversation; each goes through the one ownership check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    Continue,
    Rename,
    Pin,
    Delete,
    Export,
    /// See it in the list of one's conversations.
    List,
    /// Look through its title and messages.
    Search,
    /// Give feedback on one of its answers.
    Feedback,
}

/// A conversation its owner opened: its row, its title in clear, the key that opens the rest.
pub struct Opened {
    pub stored: StoredConversation,
    pub title: String,
    key: ContentKey,
}

/// One message in clear.
#[derive(Debug, Clone)]
pub struct Message {
    pub role: String,
    pub text: String,
    pub request_id: Option<String>,
}

/// A conversation as the list shows it.
#[derive(Debug, Clone)]
pub struct Listed {
    pub id: String,
    pub title: String,
    pub pinned: bool,
    pub updated_at: UnixMillis,
}

/// A conversation a search found: where, and the passage found (`None` when it was the title).
#[derive(Debug, Clone)]
pub struct Found {
    pub id: String,
    pub title: String,
    pub passage: Option<String>,
}

/// Keeps and opens conversations.
#[derive(Clone)]
pub struct Keeper {
    store: Store,
    content: Arc<ContentStore>,
}

impl std::fmt::Debug for Keeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keeper")
    }
}

impl Keeper {
    pub fn new(store: Store, content: Arc<ContentStore>) -> Keeper {
        Keeper { store, content }
    }

    /// Whether the person's conversations are kept: their entity's retention is `full`.
    pub fn keeps(&self, person: &Person) -> bool {
        self.content
            .policies()
            .of(person.entity.as_deref())
            .keeps_content()
    }

    /// The conversation `id` when `person` owns it, else `None`, as for a conversation that does
    /// not exist.
    pub async fn owned(&self, person: &Person, id: &str, action: Action) -> Option<Opened> {
        let stored = self.store.conversation(id).await.ok()??;
        let key = self.content.opening_key(owner(person)).await.ok()??;
        admit(person, stored, &key, action)
    }

    /// The person's conversations, pinned first, then the most recently active.
    pub async fn list(&self, person: &Person) -> Vec<Listed> {
        let Ok(Some(key)) = self.content.opening_key(owner(person)).await else {
            return Vec::new();
        };
        let rows = self
            .store
            .conversations_of(person.user.id, LISTED)
            .await
            .unwrap_or_default();
        let mut listed: Vec<Listed> = rows
            .into_iter()
            .filter_map(|row| {
                let opened = admit(person, row, &key, Action::List)?;
                Some(Listed {
                    id: opened.stored.id,
                    title: opened.title,
                    pinned: opened.stored.pinned,
                    updated_at: opened.stored.updated_at,
                })
            })
            .collect();
        listed.sort_by_key(|c| (!c.pinned, std::cmp::Reverse(c.updated_at)));
        listed
    }

    /// The person's conversations whose title or a message holds `query`, the most recently
    /// active first, each with the passage found. Each is opened in memory, in the person's
    /// request: nothing of its text is indexed anywhere.
    pub async fn search(&self, person: &Person, query: &str) -> Vec<Found> {
        let (Some(needle), Ok(Some(key))) = (
            Needle::new(query),
            self.content.opening_key(owner(person)).await,
        ) else {
            return Vec::new();
        };
        let id = person.user.id;
        let (rows, messages) = tokio::join!(
            self.store.conversations_of(id, LISTED),
            self.store.messages_owned_by(id, SEARCHED),
        );
        let messages = messages.unwrap_or_default();
        let mut by_conversation: HashMap<&str, Vec<&StoredMessage>> = HashMap::new();
        for message in &messages {
            let of = by_conversation.entry(message.conversation_id.as_str());
            of.or_default().push(message);
        }
        let mut found = Vec::new();
        for row in rows.unwrap_or_default() {
            let Some(opened) = admit(person, row, &key, Action::Search) else {
                continue;
            };
            let conversation = &opened.stored;
            let passage = match needle.find(&opened.title) {
                Some(_) => Some(None),
                None => by_conversation
                    .get(conversation.id.as_str())
                    .into_iter()
                    .flatten()
                    .filter_map(|m| open(&key, conversation, &m.id, &m.sealed))
                    .find_map(|text| needle.find(&text))
                    .map(Some),
            };
            if let Some(passage) = passage {
                found.push(Found {
                    id: opened.stored.id,
                    title: opened.title,
                    passage,
                });
            }
        }
        found
    }

    /// A new conversation titled by its first question, not yet kept ([`Keeper::create`]).
    pub async fn new_conversation(&self, person: &Person, question: &str) -> Option<Opened> {
        let key = self
            .content
            .sealing_key(owner(person), person.user.entity_id)
            .await
            .ok()??;
        let at = now_millis();
        let title: String = question.chars().take(80).collect();
        let mut stored = StoredConversation {
            id: format!("cnv_{}", uuid::Uuid::now_v7().simple()),
            owner: person.user.id,
            entity_id: person.user.entity_id,
            created_at: at,
            updated_at: at,
            pinned: false,
            sealed_title: Vec::new(),
        };
        stored.sealed_title = seal(&key, &stored, "title", &title);
        Some(Opened { stored, title, key })
    }

    /// Keeps a new conversation with its first messages, in one write: whether it was kept.
    pub async fn create(&self, opened: &Opened, first: &[Message]) -> bool {
        let rows = rows(opened, 0, first, opened.stored.created_at);
        let created = self.store.create_conversation(&opened.stored, &rows).await;
        if let Err(error) = &created {
            tracing::error!(%error, "web: a conversation could not be kept");
        }
        created.is_ok()
    }

    /// The conversation's messages in clear, in order; a message that does not open is left out.
    pub async fn messages(&self, opened: &Opened) -> Vec<Message> {
        let rows = self.store.messages_of(&opened.stored.id).await;
        let rows = rows
            .inspect_err(|error| tracing::error!(%error, "web: a conversation could not be read"));
        let rows = rows.unwrap_or_default();
        rows.iter().filter_map(|row| opened.open(row)).collect()
    }

    /// The conversation's newest messages before `position` that fit `window`, in clear and in
    /// order, from a question on (`prompt`; a message that does not open is left out), and where
    /// the next one goes: right after those kept; `None` when the store could not be read.
    ///
    /// The conversation is read from its end in pages, each twice the last, and reading stops
    /// once the window is full: a question costs what the model can read, not the whole
    /// conversation, in a few queries.
    pub async fn history(
        &self,
        opened: &Opened,
        position: usize,
        mut window: Window,
    ) -> Option<(Vec<Message>, usize)> {
        let mut before = i64::try_from(position).unwrap_or(i64::MAX);
        let (mut newest_first, mut next) = (Vec::new(), None);
        let mut page = FIRST_PAGE;
        loop {
            let rows = self
                .store
                .messages_before(&opened.stored.id, before, page)
                .await;
            let rows = rows
                .inspect_err(
                    |error| tracing::error!(%error, "web: a conversation could not be read"),
                )
                .ok()?;
            let last_page = rows.len() < usize::try_from(page).unwrap_or(usize::MAX);
            next = next.or_else(|| Some(rows.first().map_or(0, |row| row.position + 1)));
            for row in &rows {
                before = row.position;
                let Some(message) = opened.open(row) else {
                    continue;
                };
                if !window.takes(&message.text) {
                    break;
                }
                newest_first.push(message);
            }
            if last_page || window.is_full() {
                break;
            }
            page = page.saturating_mul(2).min(LARGEST_PAGE);
        }
        newest_first.reverse();
        prompt::from_a_question(&mut newest_first, |message| message.role == "user");
        let next = next
            .and_then(|next| usize::try_from(next).ok())
            .unwrap_or(0);
        Some((newest_first, next))
    }

    /// Writes `messages` from `position` on, replacing what was there (a regenerated answer, an
    /// edited question): whether they were kept.
    pub async fn write(&self, opened: &Opened, position: usize, messages: &[Message]) -> bool {
        let at = now_millis();
        let rows = rows(opened, position, messages, at);
        let written = self
            .store
            .append_messages(&opened.stored.id, &rows, at)
            .await;
        if let Err(error) = &written {
            tracing::error!(%error, "web: a conversation's messages could not be kept");
        }
        written.is_ok()
    }

    /// Whether the conversation holds the answer of the inference request `request_id`.
    pub async fn answered(&self, opened: &Opened, request_id: &str) -> bool {
        let id = &opened.stored.id;
        let answered = self.store.conversation_answered(id, request_id).await;
        answered.unwrap_or(false)
    }

    pub async fn rename(&self, opened: &Opened, title: &str) -> bool {
        let title: String = title.trim().chars().take(200).collect();
        let sealed = seal(&opened.key, &opened.stored, "title", &title);
        let id = &opened.stored.id;
        self.store.rename_conversation(id, &sealed).await.is_ok()
    }

    pub async fn pin(&self, opened: &Opened) -> bool {
        let id = &opened.stored.id;
        self.store
            .pin_conversation(id, !opened.stored.pinned)
            .await
            .is_ok()
    }

    pub async fn delete(&self, opened: &Opened) -> bool {
        self.store
            .delete_conversation(&opened.stored.id)
            .await
            .is_ok()
    }
}

impl Opened {
    /// A message of this conversation, opened; `None` when it does not open.
    fn open(&self, row: &StoredMessage) -> Option<Message> {
        Some(Message {
            role: row.role.clone(),
            text: open(&self.key, &self.stored, &row.id, &row.sealed)?,
            request_id: row.request_id.clone(),
        })
    }
}

/// The one ownership check, every action on a conversation goes through it: the conversation,
/// its title opened, when `person` owns it; else `None`, as for a conversation that does not
/// exist.
fn admit(
    person: &Person,
    stored: StoredConversation,
    key: &ContentKey,
    action: Action,
) -> Option<Opened> {
    if stored.owner != person.user.id {
        tracing::info!(?action, "web: another person's conversation was asked for");
        return None;
    }
    let title = open(key, &stored, "title", &stored.sealed_title)?;
    Some(Opened {
        stored,
        title,
        key: key.clone(),
    })
}

/// `messages` sealed as the conversation's rows from `position` on.
fn rows(
    opened: &Opened,
    position: usize,
    messages: &[Message],
    at: UnixMillis,
) -> Vec<StoredMessage> {
    let row = |(i, message): (usize, &Message)| {
        let id = format!("msg_{}", uuid::Uuid::now_v7().simple());
        let sealed = seal(&opened.key, &opened.stored, &id, &message.text);
        StoredMessage {
            position: i64::try_from(position + i).unwrap_or(i64::MAX),
            id,
            conversation_id: opened.stored.id.clone(),
            role: message.role.clone(),
            created_at: at,
            request_id: message.request_id.clone(),
            sealed,
        }
    };
    messages.iter().enumerate().map(row).collect()
}

fn owner(person: &Person) -> KeyOwner {
    KeyOwner::User(person.user.id)
}

/// What a sealed text is bound to: the conversation, the part (`title` or a message's id), the
/// entity and the owner, so no sealed text can be moved to another place and still open.
fn sealing<R>(
    conversation: &StoredConversation,
    part: &str,
    with: impl FnOnce(&RecordBinding<'_>) -> R,
) -> R {
    let record = format!("{}/{part}", conversation.id);
    let entity = conversation.entity_id.to_string();
    let owner = format!("user:{}", conversation.owner);
    with(&RecordBinding {
        record_id: &record,
        entity_id: &entity,
        owner: &owner,
    })
}

fn seal(key: &ContentKey, conversation: &StoredConversation, part: &str, text: &str) -> Vec<u8> {
    sealing(conversation, part, |binding| {
        key.seal(binding, text.as_bytes())
    })
}

fn open(
    key: &ContentKey,
    conversation: &StoredConversation,
    part: &str,
    sealed: &[u8],
) -> Option<String> {
    sealing(conversation, part, |binding| key.open(binding, sealed))
        .ok()
        .and_then(|plain| String::from_utf8(plain).ok())
}
