//! The reads of one page, audited together ([`PageReads`]).

use std::sync::{Mutex, PoisonError};

use domain::{AuditEvent, Entity};
use store::{Store, StoreError};

/// The reads a page makes through another surface's router, audited together: the console's
/// overview asks the admin API for seats, usage, latency and the month's chargeback, and each
/// successful read's audit event is left here ([`PageReads::gather`]) instead of appended on its
/// own, then the page takes them all ([`PageReads::take`]) and hands them to the audit channel
/// together before it shows anything they read. Each read keeps its own event (its action, entity
/// and range), so the trail and its filters read as for a caller of the API; only the write is
/// shared. A request extension (`Arc<PageReads>`), heeded beside [`crate::Vouched`], which no HTTP
/// client can set. The page's reads also share one read of the entities
/// ([`PageReads::entities`]), which several of them list to name their groups or to choose what
/// the caller sees.
#[derive(Debug, Default)]
pub struct PageReads(Mutex<Gathered>);

#[derive(Debug, Default)]
struct Gathered {
    events: Vec<AuditEvent>,
    /// The entities as the page's first read that asked found them.
    entities: Option<Vec<Entity>>,
}

impl PageReads {
    /// Keeps `event`, a read's audit event, to be appended with the page's others.
    pub fn gather(&self, event: AuditEvent) {
        self.lock().events.push(event);
    }

    /// The entities of `store`, read by the page's first read that asks and shared by the
    /// others, so the page shows one state of them.
    pub async fn entities(&self, store: &Store) -> Result<Vec<Entity>, StoreError> {
        if let Some(entities) = &self.lock().entities {
            return Ok(entities.clone());
        }
        // Not locked across the read: a page's reads run one after another.
        let entities = store.list_entities().await?;
        self.lock().entities = Some(entities.clone());
        Ok(entities)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Gathered> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The events gathered, in the order of the reads, taken: the page hands them to the audit
    /// channel together. A page whose reads could not be recorded must not show them.
    pub fn take(&self) -> Vec<AuditEvent> {
        std::mem::take(&mut self.lock().events)
    }
}

#[cfg(test)]
mod tests {
    use domain::{AuditAction, Outcome};

    use super::*;

    fn read(action: AuditAction) -> AuditEvent {
        AuditEvent {
            at: domain::now_millis(),
            actor: "ada".to_owned(),
            action,
            entity_id: None,
            target: "group".to_owned(),
            outcome: Outcome::Success,
            detail: "{}".to_owned(),
        }
    }

    #[test]
    fn the_reads_are_taken_in_their_order_and_once() {
        let reads = PageReads::default();
        reads.gather(read(AuditAction::UsageRead));
        reads.gather(read(AuditAction::ChargebackRead));
        let actions: Vec<_> = reads.take().into_iter().map(|e| e.action).collect();
        assert_eq!(
            actions,
            [AuditAction::UsageRead, AuditAction::ChargebackRead]
        );
        assert!(reads.take().is_empty(), "taken once");
    }

    #[tokio::test]
    async fn the_pages_reads_share_one_read_of_the_entities() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let create = |slug: &'static str| {
            let store = store.clone();
            async move {
                let event = read(AuditAction::EntityCreate);
                store.create_entity(slug, slug, &event).await.unwrap()
            }
        };
        create("acme").await;
        let reads = PageReads::default();
        let first = reads.entities(&store).await.unwrap();
        create("globex").await;
        let second = reads.entities(&store).await.unwrap();
        let slugs =
            |entities: &[Entity]| entities.iter().map(|e| e.slug.clone()).collect::<Vec<_>>();
        assert_eq!(slugs(&first), ["acme"]);
        assert_eq!(slugs(&second), ["acme"], "read once for the page");
        let next_page = PageReads::default();
        assert_eq!(
            slugs(&next_page.entities(&store).await.unwrap()),
            ["acme", "globex"]
        );
    }
}
