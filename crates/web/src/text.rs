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
            Text::FeedbackFailed => (
                "L’avis n’a pas pu être enregistré.",
                "The feedback could not be recorded.",
            ),
        }
    }
}
