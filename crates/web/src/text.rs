//! Every sentence the pages show, in French and English: one closed set, one exhaustive match, so
//! a sentence cannot be missing in one language.

use crate::lang::Lang;

/// A sentence of the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    Product,
    SkipToContent,
    Language,
    ChangeLanguage,
    SignInTitle,
    SignInLead,
    SignInWithProvider,
    SignInByLink,
    SignInRefused,
    SignedInAs,
    Forbidden,
    ForgedRequest,
    CrossOriginRequest,
    Conversation,
    Model,
    NoModel,
    Question,
    Send,
    Stop,
    Stopped,
    Thinking,
    Answered,
    Copy,
    Regenerate,
    NothingKept,
    BadQuestion,
    Refused,
    Pseudonymized,
    Redacted,
    OnPremises,
    SovereignCloud,
    EuCloud,
    NonEuCloud,
    UpTo,
    Edit,
    Useful,
    NotUseful,
    Comment,
    SendFeedback,
    Thanks,
    FeedbackFailed,
    Classification,
    ClassificationHint,
    NoClearedModel,
    NotFound,
    Conversations,
    NewConversation,
    Title,
    Rename,
    Pin,
    Unpin,
    Delete,
    Export,
    Kept,
    SignOut,
    PinnedConversations,
    Today,
    Yesterday,
    PreviousWeek,
    PreviousMonth,
    Older,
    Search,
    SearchResults,
    NothingFound,
    ClearSearch,
    UsageThisMonth,
    Requests,
    Tokens,
    Cost,
    TokenBudget,
    MoneyBudget,
    Models,
    Assistants,
    Variables,
    Attach,
    RemoveAttachment,
    Attached,
    AttachmentKind,
    AttachmentSize,
    AttachmentDamaged,
    AttachmentEmpty,
    AttachmentTooLong,
    TooLongForModel,
}

impl Text {
    /// Where a model runs, from the hosting the inference API names (`on_premises`…).
    pub fn of_hosting(hosting: &str) -> Option<Text> {
        Some(match hosting {
            "on_premises" => Text::OnPremises,
            "sovereign_cloud" => Text::SovereignCloud,
            "eu_cloud" => Text::EuCloud,
            "non_eu_cloud" => Text::NonEuCloud,
            _ => return None,
        })
    }

    /// The name of a budget counting `unit`.
    pub fn of_budget(unit: admission::BudgetUnit) -> Text {
        match unit {
            admission::BudgetUnit::Tokens => Text::TokenBudget,
            admission::BudgetUnit::MoneyMicros => Text::MoneyBudget,
        }
    }

    /// The sentence in `lang`.
    pub fn in_(self, lang: Lang) -> &'static str {
        let (fr, en) = self.both();
        match lang {
            Lang::Fr => fr,
            Lang::En => en,
        }
    }

    fn both(self) -> (&'static str, &'static str) {
        match self {
            Text::Product => ("Fabrique", "Fabrique"),
            Text::SkipToContent => ("Aller au contenu", "Skip to content"),
            Text::Language => ("Langue", "Language"),
            Text::ChangeLanguage => ("Changer", "Change"),
            Text::SignInTitle => ("Connexion", "Sign in"),
            Text::SignInLead => (
                "L’assistant de votre groupe, hébergé chez vous : vos questions ne quittent pas \
                 l’infrastructure souveraine.",
                "Your group’s assistant, hosted at home: your questions never leave the sovereign \
                 infrastructure.",
            ),
            Text::SignInWithProvider => (
                "Se connecter avec le compte de l’entreprise",
                "Sign in with your company account",
            ),
            Text::SignInByLink => (
                "Demandez un lien de connexion à usage unique à votre administrateur.",
                "Ask your administrator for a one-time sign-in link.",
            ),
            Text::SignInRefused => (
                "Votre session n’est plus valable : reconnectez-vous.",
                "Your session is no longer valid: sign in again.",
            ),
            Text::SignedInAs => ("Connecté en tant que", "Signed in as"),
            Text::Forbidden => ("Action refusée", "Action refused"),
            Text::ForgedRequest => (
                "Cette page a expiré ou ne vient pas de Fabrique : rechargez-la et recommencez.",
                "This page has expired or did not come from Fabrique: reload it and try again.",
            ),
            Text::CrossOriginRequest => (
                "Cette demande vient d’un autre site : elle a été refusée.",
                "This request came from another site: it was refused.",
            ),
            Text::Conversation => ("Conversation", "Conversation"),
            Text::Model => ("Modèle", "Model"),
            Text::NoModel => (
                "Aucun modèle ne vous est ouvert : demandez à votre administrateur.",
                "No model is open to you: ask your administrator.",
            ),
            Text::Question => ("Votre question", "Your question"),
            Text::Send => ("Envoyer", "Send"),
            Text::Stop => ("Arrêter", "Stop"),
            Text::Stopped => ("Réponse arrêtée.", "Answer stopped."),
            Text::Thinking => ("Réponse en cours…", "Answering…"),
            Text::Answered => ("Réponse terminée.", "Answer complete."),
            Text::Copy => ("Copier", "Copy"),
            Text::Regenerate => ("Régénérer", "Regenerate"),
            Text::NothingKept => (
                "Rien de cette conversation n’est conservé sur le serveur : elle disparaît quand \
                 vous fermez la page.",
                "Nothing of this conversation is kept on the server: it is gone when you close \
                 the page.",
            ),
            Text::BadQuestion => (
                "Cette question n’a pas pu être lue : rechargez la page.",
                "This question could not be read: reload the page.",
            ),
            Text::Refused => ("La demande a été refusée.", "The request was refused."),
            Text::Pseudonymized => (
                "pseudonymisé(s) avant l’envoi",
                "pseudonymized before sending",
            ),
            Text::Redacted => ("masqué(s) avant l’envoi", "redacted before sending"),
            Text::OnPremises => ("sur site", "on premises"),
            Text::SovereignCloud => ("cloud souverain", "sovereign cloud"),
            Text::EuCloud => ("cloud européen", "EU cloud"),
            Text::NonEuCloud => ("cloud hors UE", "non-EU cloud"),
            Text::UpTo => ("jusqu’à", "up to"),
            Text::Edit => ("Modifier la question", "Edit the question"),
            Text::Useful => ("Utile", "Useful"),
            Text::NotUseful => ("Pas utile", "Not useful"),
            Text::Comment => ("Commentaire (facultatif)", "Comment (optional)"),
            Text::SendFeedback => ("Envoyer l’avis", "Send feedback"),
            Text::Thanks => ("Merci pour votre avis.", "Thank you for your feedback."),
            Text::Classification => ("Classification", "Classification"),
            Text::ClassificationHint => (
                "Relevez-la si la conversation est plus sensible ; elle ne descend jamais sous celle \
                 de votre entité.",
                "Raise it when the conversation is more sensitive; it never goes below your \
                 entity’s.",
            ),
            Text::NoClearedModel => (
                "Aucun modèle habilité à ce niveau de classification ne peut répondre : choisissez \
                 un modèle qui l’accepte.",
                "No model cleared for this classification can answer: choose a model that accepts \
                 it.",
            ),
            Text::NotFound => ("Introuvable.", "Not found."),
            Text::Conversations => ("Vos conversations", "Your conversations"),
            Text::NewConversation => ("Nouvelle conversation", "New conversation"),
            Text::Title => ("Titre", "Title"),
            Text::Rename => ("Renommer", "Rename"),
            Text::Pin => ("Épingler", "Pin"),
            Text::Unpin => ("Désépingler", "Unpin"),
            Text::Delete => ("Supprimer", "Delete"),
            Text::Export => ("Exporter en Markdown", "Export as Markdown"),
            Text::Kept => (
                "Vos conversations sont conservées chiffrées sur le serveur, le temps que votre \
                 entité a fixé, et effacées avec votre compte.",
                "Your conversations are kept encrypted on the server for as long as your entity \
                 decided, and erased with your account.",
            ),
            Text::SignOut => ("Se déconnecter", "Sign out"),
            Text::PinnedConversations => ("Épinglées", "Pinned"),
            Text::Today => ("Aujourd’hui", "Today"),
            Text::Yesterday => ("Hier", "Yesterday"),
            Text::PreviousWeek => ("7 jours précédents", "Previous 7 days"),
            Text::PreviousMonth => ("30 jours précédents", "Previous 30 days"),
            Text::Older => ("Plus anciennes", "Older"),
            Text::Search => ("Rechercher", "Search"),
            Text::SearchResults => ("Résultats pour", "Results for"),
            Text::NothingFound => (
                "Aucune de vos conversations ne contient ces mots.",
                "None of your conversations holds these words.",
            ),
            Text::ClearSearch => ("Toutes vos conversations", "All your conversations"),
            Text::UsageThisMonth => ("Votre consommation ce mois-ci", "Your usage this month"),
            Text::Requests => ("requêtes", "requests"),
            Text::Tokens => ("jetons", "tokens"),
            Text::Cost => ("coût", "cost"),
            Text::TokenBudget => ("Budget mensuel en jetons", "Monthly token budget"),
            Text::MoneyBudget => ("Budget mensuel", "Monthly budget"),
            Text::Models => ("Modèles", "Models"),
            Text::Assistants => ("Assistants", "Assistants"),
            Text::Variables => (
                "Ce que l’assistant doit savoir",
                "What the assistant needs to know",
            ),
            Text::Attach => (
                "Joindre un document (PDF, DOCX, TXT, Markdown)",
                "Attach a document (PDF, DOCX, TXT, Markdown)",
            ),
            Text::RemoveAttachment => ("Retirer le document", "Remove the document"),
            Text::Attached => ("Document joint", "Attached document"),
            Text::AttachmentKind => (
                "Seuls les documents PDF, DOCX, XLSX, HTML, EML, TXT et Markdown peuvent être joints.",
                "Only PDF, DOCX, XLSX, HTML, EML, TXT and Markdown documents can be attached.",
            ),
            Text::AttachmentSize => (
                "Ce document est trop volumineux : 10 Mo au plus.",
                "This document is too large: 10 MB at most.",
            ),
            Text::AttachmentDamaged => (
                "Ce document n’a pas pu être lu : il est peut-être endommagé, chiffré ou d’un autre \
                 format que son nom l’indique.",
                "This document could not be read: it may be damaged, encrypted or of another \
                 format than its name says.",
            ),
            Text::AttachmentEmpty => (
                "Ce document ne contient pas de texte (un document numérisé n’est pas lu).",
                "This document holds no text (a scanned document is not read).",
            ),
            Text::AttachmentTooLong => (
                "Ce document (environ {tokens} jetons) dépasse ce que le modèle choisi peut lire \
                 ({context} jetons) : joignez un extrait ou choisissez un modèle plus large.",
                "This document (about {tokens} tokens) is more than the chosen model can read \
                 ({context} tokens): attach an extract or choose a larger model.",
            ),
            Text::TooLongForModel => (
                "La conversation dépasse ce que le modèle choisi peut lire : raccourcissez-la ou \
                 choisissez un modèle plus large.",
                "The conversation is more than the chosen model can read: shorten it or choose a \
                 larger model.",
            ),
            Text::FeedbackFailed => (
                "L’avis n’a pas pu être enregistré.",
                "The feedback could not be recorded.",
            ),
        }
    }
}
