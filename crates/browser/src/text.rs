//! Sentences in French and English: the [`sentences!`] table each page-serving surface writes its
//! own sentences with, and [`Common`], the sentences of the frame every surface shares (the skip
//! link, the language switch, a refused or missing page).
//!
//! A table row holds both languages, so a sentence cannot be missing in one of them.

/// Declares a closed set of sentences, each with its French and English text, and `in_(lang)`.
///
/// ```ignore
/// browser::sentences! {
///     /// A sentence of the console.
///     pub(crate) enum Text {
///         Users => ("Utilisateurs", "Users"),
///     }
/// }
/// ```
#[macro_export]
macro_rules! sentences {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $($variant:ident => ($fr:literal, $en:literal),)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis enum $name {
            $($variant,)*
        }

        impl $name {
            /// The sentence in `lang`.
            $vis fn in_(self, lang: $crate::Lang) -> &'static str {
                match lang {
                    $crate::Lang::Fr => match self { $($name::$variant => $fr,)* },
                    $crate::Lang::En => match self { $($name::$variant => $en,)* },
                }
            }
        }
    };
}

sentences! {
    /// The sentences of the frame every page-serving surface shares.
    pub enum Common {
        SkipToContent => ("Aller au contenu", "Skip to content"),
        Language => ("Langue", "Language"),
        ChangeLanguage => ("Changer", "Change"),
        SignedInAs => ("Connecté en tant que", "Signed in as"),
        NotFound => ("Introuvable.", "Not found."),
        ForgedRequest => (
            "Cette page a expiré ou ne vient pas de Fabrique : rechargez-la et recommencez.",
            "This page has expired or did not come from Fabrique: reload it and try again."
        ),
        CrossOriginRequest => (
            "Cette demande vient d’un autre site : elle a été refusée.",
            "This request came from another site: it was refused."
        ),
        SignOutFailed => (
            "La déconnexion n’a pas pu être enregistrée : réessayez dans un instant.",
            "Your sign-out could not be recorded: try again in a moment."
        ),
    }
}

impl crate::Forgery {
    /// Why the state change was refused, in the person's words.
    pub fn explained(self) -> Common {
        match self {
            crate::Forgery::CrossOrigin => Common::CrossOriginRequest,
            crate::Forgery::BadToken => Common::ForgedRequest,
        }
    }
}
