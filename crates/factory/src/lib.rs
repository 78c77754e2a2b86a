//! The AI Factory's core: what a use case is, how its versions move from idea to production, and
//! the rules that decide along the way. Pure: no I/O, no clock (times are passed in), no async.
//!
//! - **Registry** ([`registry`]): a use case (slug, purpose, owning entity, owners, the entities
//!   allowed to call it, classification, EU AI Act risk class, impact assessment (and the size
//!   of the documents attached to it, [`MAX_USE_CASE_DOCUMENT_BYTES`]), priority class,
//!   evaluation thresholds, canary rule) and its numbered versions (system-prompt template, model
//!   and fallbacks, parameters, tools, output schema, few-shot messages). A version's content is
//!   frozen once submitted; its [`registry::VersionSpec::digest`] names that content, so an
//!   evaluation run can be tied to exactly what was approved.
//! - **Lifecycle** ([`lifecycle`]): `draft → in_review → approved → deployed → retired`, and back
//!   to `draft` from review. Each [`lifecycle::Transition`] names the role that makes it (factory
//!   engineers propose and deploy, a risk officer of the owning entity approves); a high-risk use
//!   case needs a second approval, at group level, and its impact assessment completed with at
//!   least one document attached; a prohibited one is never approved. The Cedar
//!   policies of the admin API grant exactly these roles (a test there checks it).
//! - **Invocation** ([`template`], [`compose`]): the template rendered with named variables, then
//!   the chat request the model receives: the version's system prompt, few-shot messages, the
//!   caller's messages, the version's model, parameters, tools and output schema.
//! - **Rollout** ([`rollout`]): deployed versions split traffic by weight, optionally per entity,
//!   sticky per user (a stable hash of the use case and the user).
//! - **Evaluation** ([`suite`], [`grading`], [`report`]): JSONL cases and their expectations, the
//!   graders (exact, contains, regex, JSON schema, numeric tolerance, field by field, embedding
//!   similarity, model-as-judge), the run's summary, its regressions against a baseline, and the
//!   gate a version must pass to be approved.
//! - **Watching** ([`canary`]): when a canary's error or negative-feedback rate rolls it back.
//! - **Live** ([`live`]): the deployed registry as the request path reads it, swapped whole.
//! - **Register** ([`register`]): the AI Act register's rows, and diffs between versions
//!   ([`diff`]).

pub mod canary;
pub mod compose;
pub mod diff;
pub mod grading;
pub mod lifecycle;
pub mod live;
pub mod register;
pub mod registry;
pub mod report;
pub mod rollout;
pub mod suite;
pub mod template;

pub use lifecycle::{Approval, ApprovalNeed, LifecycleError, Transition, TransitionRole};
pub use live::{CallerView, Invocable, KeyScope, Live, LiveUseCase, LiveVersion, Refusal};
pub use registry::{
    Allowed, ImpactAssessment, MAX_USE_CASE_DOCUMENT_BYTES, RiskClass, Thresholds, UseCase,
    Version, VersionSpec, VersionState,
};

/// The prefix of a model name that invokes a use case: `usecase/<slug>` or `usecase/<slug>@<n>`.
pub const INVOKE_PREFIX: &str = "usecase/";
