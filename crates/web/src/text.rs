//! Every sentence the pages show, in French and English: one closed set whose every row holds
//! both languages (`browser::sentences!`), so a sentence cannot be missing in one of them. The
//! frame's sentences (skip link, language switch, refused forms) are `browser::Common`.

browser::sentences! {
    /// A sentence of the pages.
    pub enum Text {
        Product => ("Fabrique", "Fabrique"),
        SignInTitle => ("Connexion", "Sign in"),
        SignInLead => (
            "L’assistant de votre groupe, hébergé chez vous : vos questions ne quittent pas \
             l’infrastructure souveraine.",
            "Your group’s assistant, hosted at home: your questions never leave the sovereign \
             infrastructure."
        ),
        SignInWithProvider => (
            "Se connecter avec le compte de l’entreprise",
            "Sign in with your company account"
        ),
        SignInByLink => (
            "Demandez un lien de connexion à usage unique à votre administrateur.",
            "Ask your administrator for a one-time sign-in link."
        ),
        SignInRefused => (
            "Votre session n’est plus valable : reconnectez-vous.",
            "Your session is no longer valid: sign in again."
        ),
        Forbidden => ("Action refusée", "Action refused"),
        Conversation => ("Conversation", "Conversation"),
        Model => ("Modèle", "Model"),
        NoModel => (
            "Aucun modèle ne vous est ouvert : demandez à votre administrateur.",
            "No model is open to you: ask your administrator."
        ),
        Question => ("Votre question", "Your question"),
        Send => ("Envoyer", "Send"),
        Stop => ("Arrêter", "Stop"),
        Stopped => ("Réponse arrêtée.", "Answer stopped."),
        Thinking => ("Réponse en cours…", "Answering…"),
        Answered => ("Réponse terminée.", "Answer complete."),
        Copy => ("Copier", "Copy"),
        Regenerate => ("Régénérer", "Regenerate"),
        NothingKept => (
            "Rien de cette conversation n’est conservé sur le serveur : elle disparaît quand \
             vous fermez la page.",
            "Nothing of this conversation is kept on the server: it is gone when you close \
             the page."
        ),
        BadQuestion => (
            "Cette question n’a pas pu être lue : rechargez la page.",
            "This question could not be read: reload the page."
        ),
        ConversationUnreadable => (
            "Cette conversation n’a pas pu être lue : réessayez dans un instant.",
            "This conversation could not be read: try again in a moment."
        ),
        Refused => ("La demande a été refusée.", "The request was refused."),
        BrokeSchema => (
            "Cette réponse ne respecte pas le format que l’assistant doit suivre : ne vous y fiez pas.",
            "This answer breaks the format the assistant must keep to: do not rely on it."
        ),
        Pseudonymized => (
            "pseudonymisé(s) avant l’envoi",
            "pseudonymized before sending"
        ),
        Redacted => ("masqué(s) avant l’envoi", "redacted before sending"),
        OnPremises => ("sur site", "on premises"),
        SovereignCloud => ("cloud souverain", "sovereign cloud"),
        EuCloud => ("cloud européen", "EU cloud"),
        NonEuCloud => ("cloud hors UE", "non-EU cloud"),
        UpTo => ("jusqu’à", "up to"),
        Edit => ("Modifier la question", "Edit the question"),
        Useful => ("Utile", "Useful"),
        NotUseful => ("Pas utile", "Not useful"),
        Comment => ("Commentaire (facultatif)", "Comment (optional)"),
        SendFeedback => ("Envoyer l’avis", "Send feedback"),
        Thanks => ("Merci pour votre avis.", "Thank you for your feedback."),
        Classification => ("Classification", "Classification"),
        ClassificationHint => (
            "Relevez-la si la conversation est plus sensible ; elle ne descend jamais sous celle \
             de votre entité.",
            "Raise it when the conversation is more sensitive; it never goes below your \
             entity’s."
        ),
        NoClearedModel => (
            "Aucun modèle habilité à ce niveau de classification ne peut répondre : choisissez \
             un modèle qui l’accepte.",
            "No model cleared for this classification can answer: choose a model that accepts \
             it."
        ),
        Conversations => ("Vos conversations", "Your conversations"),
        NewConversation => ("Nouvelle conversation", "New conversation"),
        Title => ("Titre", "Title"),
        Rename => ("Renommer", "Rename"),
        Pin => ("Épingler", "Pin"),
        Unpin => ("Désépingler", "Unpin"),
        Delete => ("Supprimer", "Delete"),
        Export => ("Exporter en Markdown", "Export as Markdown"),
        Kept => (
            "Vos conversations sont conservées chiffrées sur le serveur, le temps que votre \
             entité a fixé, et effacées avec votre compte.",
            "Your conversations are kept encrypted on the server for as long as your entity \
             decided, and erased with your account."
        ),
        SignOut => ("Se déconnecter", "Sign out"),
        PinnedConversations => ("Épinglées", "Pinned"),
        Today => ("Aujourd’hui", "Today"),
        Yesterday => ("Hier", "Yesterday"),
        PreviousWeek => ("7 jours précédents", "Previous 7 days"),
        PreviousMonth => ("30 jours précédents", "Previous 30 days"),
        Older => ("Plus anciennes", "Older"),
        Search => ("Rechercher", "Search"),
        SearchResults => ("Résultats pour", "Results for"),
        NothingFound => (
            "Aucune de vos conversations ne contient ces mots.",
            "None of your conversations holds these words."
        ),
        ClearSearch => ("Toutes vos conversations", "All your conversations"),
        UsageThisMonth => ("Votre consommation ce mois-ci", "Your usage this month"),
        Requests => ("requêtes", "requests"),
        Tokens => ("jetons", "tokens"),
        Cost => ("coût", "cost"),
        TokenBudget => ("Budget mensuel en jetons", "Monthly token budget"),
        MoneyBudget => ("Budget mensuel", "Monthly budget"),
        Models => ("Modèles", "Models"),
        Assistants => ("Assistants", "Assistants"),
        AskLibrary => ("Bibliothèque", "Library"),
        NoLibrary => ("Aucune", "None"),
        AskLibraryHint => (
            "La réponse s’appuie sur ses documents que vous pouvez lire, et les cite.",
            "The answer draws on its documents you may read, and cites them."
        ),
        Sources => ("Sources", "Sources"),
        Page => ("page", "page"),
        Variables => (
            "Ce que l’assistant doit savoir",
            "What the assistant needs to know"
        ),
        Attach => (
            "Joindre un document (PDF, DOCX, TXT, Markdown)",
            "Attach a document (PDF, DOCX, TXT, Markdown)"
        ),
        RemoveAttachment => ("Retirer le document", "Remove the document"),
        Attached => ("Document joint", "Attached document"),
        AttachmentKind => (
            "Seuls les documents PDF, DOCX, XLSX, PPTX, HTML, EML, TXT et Markdown peuvent être \
             joints.",
            "Only PDF, DOCX, XLSX, PPTX, HTML, EML, TXT and Markdown documents can be attached."
        ),
        AttachmentSize => (
            "Ce document est trop volumineux : 10 Mo au plus.",
            "This document is too large: 10 MB at most."
        ),
        AttachmentDamaged => (
            "Ce document n’a pas pu être lu : il est peut-être endommagé, chiffré ou d’un autre \
             format que son nom l’indique.",
            "This document could not be read: it may be damaged, encrypted or of another \
             format than its name says."
        ),
        AttachmentEmpty => (
            "Ce document ne contient pas de texte (un document numérisé n’est pas lu).",
            "This document holds no text (a scanned document is not read)."
        ),
        AttachmentTooLong => (
            "Ce document (environ {tokens} jetons) dépasse ce que le modèle choisi peut lire \
             ({context} jetons) : joignez un extrait ou choisissez un modèle plus large.",
            "This document (about {tokens} tokens) is more than the chosen model can read \
             ({context} tokens): attach an extract or choose a larger model."
        ),
        QuestionTooLong => (
            "Cette question (environ {tokens} jetons) dépasse ce que le modèle choisi peut lire \
             ({context} jetons) : raccourcissez-la ou choisissez un modèle plus large.",
            "This question (about {tokens} tokens) is more than the chosen model can read \
             ({context} tokens): shorten it or choose a larger model."
        ),
        TooLongForModel => (
            "La conversation dépasse ce que le modèle choisi peut lire : raccourcissez-la ou \
             choisissez un modèle plus large.",
            "The conversation is more than the chosen model can read: shorten it or choose a \
             larger model."
        ),
        FeedbackFailed => (
            "L’avis n’a pas pu être enregistré.",
            "The feedback could not be recorded."
        ),
    }
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
}
