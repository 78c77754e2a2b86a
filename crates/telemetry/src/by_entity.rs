//! The request path's handles, one set per (entity, model) pair: created the first time an entity
//! uses a model, then found with one read-locked lookup in the model's own small map (the maps are
//! sharded by model, whose index the request already holds), so counting allocates nothing.
//!
//! Cardinality stays bounded: models come from the configuration, entities from the directory.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;

use crate::{
    EntityModelLabels, Families, RejectionLabels, RequestLabels, StatusClass, TokenLabels,
};

/// The entity label of a caller that belongs to no entity (the group's own service accounts) or
/// was not identified. Never a valid slug, so it cannot be mistaken for one.
pub const NO_ENTITY: &str = "-";

/// The handles of one entity's use of one model.
#[derive(Debug)]
pub struct EntityModelMetrics {
    /// By [`StatusClass`].
    requests: [Counter; 3],
    pub input_tokens: Counter,
    pub output_tokens: Counter,
    pub cost_micros: Counter,
    pub rate_limited: Counter,
    pub budget_exceeded: Counter,
    /// Time from request to last byte, answered requests.
    pub duration: Histogram,
    pub time_to_first_token: Histogram,
}

impl EntityModelMetrics {
    /// Counts one finished request with its HTTP status.
    pub fn request(&self, status: u16) {
        self.requests[StatusClass::of(status) as usize].inc();
    }
}

/// One configured model's handles, per entity that used it.
#[derive(Debug)]
pub struct ModelMetrics {
    name: String,
    route: &'static str,
    families: Families,
    by_entity: RwLock<HashMap<Arc<str>, Arc<EntityModelMetrics>>>,
}

impl ModelMetrics {
    pub(crate) fn new(name: String, route: &'static str, families: Families) -> Self {
        ModelMetrics {
            name,
            route,
            families,
            by_entity: RwLock::new(HashMap::new()),
        }
    }

    /// The handles of `entity` (a slug, or `None` for [`NO_ENTITY`]) for this model.
    pub fn entity(&self, entity: Option<&Arc<str>>) -> Arc<EntityModelMetrics> {
        let slug: &str = entity.map_or(NO_ENTITY, |s| &**s);
        if let Some(handles) = self.by_entity.read().get(slug) {
            return Arc::clone(handles);
        }
        let key = entity.map_or_else(|| Arc::from(NO_ENTITY), Arc::clone);
        let mut map = self.by_entity.write();
        Arc::clone(
            map.entry(key)
                .or_insert_with(|| Arc::new(self.create(slug))),
        )
    }

    /// Registers the pair's series; every one exists from its first request on, zeros included.
    fn create(&self, entity: &str) -> EntityModelMetrics {
        let f = &self.families;
        let pair = EntityModelLabels {
            entity: entity.to_owned(),
            model: self.name.clone(),
        };
        // Each `get_or_create` guard holds the family's lock: take the handles one at a time.
        let request = |class: StatusClass| {
            f.requests
                .get_or_create(&RequestLabels {
                    entity: entity.to_owned(),
                    model: self.name.clone(),
                    route: self.route.to_owned(),
                    status: class.as_str().to_owned(),
                })
                .clone()
        };
        let tokens = |direction: &str| {
            f.tokens
                .get_or_create(&TokenLabels {
                    entity: entity.to_owned(),
                    model: self.name.clone(),
                    direction: direction.to_owned(),
                })
                .clone()
        };
        let rejections = |reason: &str| {
            f.rejections
                .get_or_create(&RejectionLabels {
                    entity: entity.to_owned(),
                    model: self.name.clone(),
                    reason: reason.to_owned(),
                })
                .clone()
        };
        EntityModelMetrics {
            requests: StatusClass::ALL.map(request),
            input_tokens: tokens("input"),
            output_tokens: tokens("output"),
            cost_micros: f.cost.get_or_create(&pair).clone(),
            rate_limited: rejections("rate_limit_exceeded"),
            budget_exceeded: rejections("budget_exceeded"),
            duration: f.duration.get_or_create(&pair).clone(),
            time_to_first_token: f.ttft.get_or_create(&pair).clone(),
        }
    }
}
