//! The web chat: the sign-in page signed out, the chat signed in, languages, the security headers
//! of every page, CSRF on every state change, and questions answered through the gateway as
//! sanitized HTML over server-sent events — through a real server on loopback, a real identity
//! provider for the session, the echoing simulator for the answers, a browser played by reqwest.

use reqwest::header::{CONTENT_TYPE, COOKIE, HeaderMap, SET_COOKIE};
use serde_json::{Value, json};

use crate::harness::*;
use crate::oidc::{browser_session, start, start_on, start_on_database};

/// A browser that keeps to what it is told: no redirects followed, no cookie jar.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `name=value` of the response's cookie `name`.
fn set_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .find(|v| v.starts_with(&format!("{name}=")))
}

/// The page's CSRF token, from its `<meta name="csrf-token">`.
fn token_of(page: &str) -> String {
    let start = page.find(r#"name="csrf-token" content=""#).unwrap() + 27;
    page[start..].split('"').next().unwrap().to_owned()
}

/// `GET /` with `cookies` and `Accept-Language: language`: status, headers, body.
async fn page(t: &TestServer, cookies: &str, language: &str) -> (u16, HeaderMap, String) {
    let mut request = browser()
        .get(t.url("/"))
        .header("accept-language", language);
    if !cookies.is_empty() {
        request = request.header(COOKIE, cookies);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, headers, response.text().await.unwrap())
}

/// An HTML page under the strict policy, holding no inline script or style.
fn assert_strict_page((status, headers, body): &(u16, HeaderMap, String)) {
    assert_eq!(*status, 200, "{body}");
    assert!(
        headers[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert_eq!(csp, web::CONTENT_SECURITY_POLICY);
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        !body.contains("<script>") && !body.contains(" style="),
        "no inline code: {body}"
    );
}

/// `POST /lang` choosing English: status, the language cookie set if any, body.
async fn choose_english(
    t: &TestServer,
    cookies: &str,
    token: &str,
    origin: Option<&str>,
) -> (u16, Option<String>, String) {
    let mut request = browser()
        .post(t.url("/lang"))
        .header(COOKIE, cookies)
        .form(&[("csrf", token), ("lang", "en")]);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let lang = set_cookie(response.headers(), web::LANG_COOKIE);
    (status, lang, response.text().await.unwrap())
}

#[tokio::test]
async fn signed_out_the_chat_shows_the_sign_in_page_in_french_unless_the_browser_prefers_english() {
    let t = TestServer::start(vec![instant_sim()], &one_endpoint("")).await;
    let french = page(&t, "", "de-DE, fr;q=0.5").await;
    assert_strict_page(&french);
    let (_, headers, body) = &french;
    assert!(body.contains(r#"<html lang="fr">"#), "{body}");
    assert!(
        body.contains("Connexion") && body.contains("lien de connexion"),
        "{body}"
    );
    assert!(
        !body.contains("/auth/login"),
        "no provider is configured: {body}"
    );
    assert!(set_cookie(headers, web::BROWSER_COOKIE).is_some());

    let english = page(&t, "", "en-GB,en;q=0.9,fr;q=0.8").await;
    assert_strict_page(&english);
    let body = &english.2;
    assert!(
        body.contains(r#"<html lang="en">"#) && body.contains("Sign in"),
        "{body}"
    );

    for asset in ["/assets/app.css", "/assets/app.js"] {
        let response = browser().get(t.url(asset)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{asset}");
        let kind = response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            kind.starts_with("text/css") || kind.starts_with("text/javascript"),
            "{kind}"
        );
    }
    let missing = browser()
        .get(t.url("/assets/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
}

#[tokio::test]
async fn with_a_provider_the_sign_in_page_offers_it_and_a_session_opens_the_chat() {
    let (issuer, t) = start().await;
    let signed_out = page(&t, "", "fr").await;
    assert_strict_page(&signed_out);
    assert!(
        signed_out.2.contains(r#"href="/auth/login""#),
        "{}",
        signed_out.2
    );

    let session = browser_session(&issuer, &t, "ada").await;
    let signed_in = page(&t, &session, "fr").await;
    assert_strict_page(&signed_in);
    let body = &signed_in.2;
    assert!(
        body.contains("Connecté en tant que") && body.contains("ada"),
        "{body}"
    );
    assert!(!body.contains(r#"href="/auth/login""#), "{body}");
}

/// Where a page or a script points: `href="/assets/…"`, `src="/assets/…"`, and a module's
/// `from './….js'`.
fn assets_named(text: &str) -> Vec<String> {
    let mut named = Vec::new();
    for (mark, prefix) in [
        (r#"href="/assets/"#, "/assets/"),
        (r#"src="/assets/"#, "/assets/"),
        ("from './", "/assets/"),
    ] {
        for (at, _) in text.match_indices(mark) {
            let rest = &text[at + mark.len()..];
            let end = rest.find(['"', '\'', '?']).unwrap_or(rest.len());
            named.push(format!("{prefix}{}", &rest[..end]));
        }
    }
    named
}

/// The chat as a person first opens it weighs under 100 KB, the page and everything it loads
/// (style sheet, scripts and the modules they import): it opens fast on a loaded office network.
#[tokio::test]
async fn the_chat_signed_in_weighs_under_100_kb_with_everything_it_loads() {
    let (issuer, t) = start().await;
    let session = browser_session(&issuer, &t, "ada").await;
    let (status, _, body) = page(&t, &session, "fr").await;
    assert_eq!(status, 200);
    let mut weight = body.len();
    let mut to_load = assets_named(&body);
    let mut loaded = Vec::new();
    while let Some(asset) = to_load.pop() {
        if loaded.contains(&asset) {
            continue;
        }
        let response = browser().get(t.url(&asset)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{asset}");
        let text = response.text().await.unwrap();
        weight += text.len();
        to_load.extend(assets_named(&text));
        loaded.push(asset);
    }
    assert!(
        loaded.iter().any(|a| a.ends_with(".css")) && loaded.iter().any(|a| a.ends_with(".js")),
        "the page's style and scripts are counted: {loaded:?}"
    );
    assert!(weight < 100_000, "{weight} bytes: {loaded:?}");
}

#[tokio::test]
async fn a_state_change_needs_the_token_of_this_browser_and_person_from_this_origin() {
    let (issuer, t) = start().await;
    let session = browser_session(&issuer, &t, "ada").await;
    let (_, headers, body) = page(&t, &session, "fr").await;
    let browser_id = set_cookie(&headers, web::BROWSER_COOKIE).unwrap();
    let cookies = format!("{session}; {browser_id}");
    let token = token_of(&body);

    let (status, lang, body) = choose_english(&t, &cookies, "", None).await;
    assert_eq!((status, lang), (403, None), "no token");
    assert!(body.contains("rechargez-la"), "the page says why: {body}");
    let (status, ..) = choose_english(&t, &session, &token, None).await;
    assert_eq!(status, 403, "the token without the browser it was made for");
    let other_browser = format!("{session}; {}=another", web::BROWSER_COOKIE);
    let (status, ..) = choose_english(&t, &other_browser, &token, None).await;
    assert_eq!(status, 403, "another browser's token");
    let (status, ..) = choose_english(&t, &browser_id, &token, None).await;
    assert_eq!(
        status, 403,
        "a signed-in person's token, without the session"
    );
    let evil = Some("https://evil.example");
    let (status, _, body) = choose_english(&t, &cookies, &token, evil).await;
    assert_eq!(status, 403, "another origin");
    assert!(body.contains("autre site"), "{body}");

    let origin = t.url("");
    let (status, lang, _) = choose_english(&t, &cookies, &token, Some(&origin)).await;
    assert_eq!(status, 303);
    let lang = lang.unwrap();
    assert_eq!(lang, format!("{}=en", web::LANG_COOKIE));
    let (_, _, body) = page(&t, &format!("{cookies}; {lang}"), "fr").await;
    assert!(
        body.contains(r#"<html lang="en">"#) && body.contains("Signed in as"),
        "{body}"
    );
}

/// A signed-in browser: its cookies and the page's CSRF token.
struct Browser {
    cookies: String,
    token: String,
}

impl Browser {
    async fn sign_in(issuer: &::oidc::testing::TestIssuer, t: &TestServer) -> (Browser, String) {
        let session = browser_session(issuer, t, "ada").await;
        let (status, headers, page) = page(t, &session, "fr").await;
        assert_eq!(status, 200, "{page}");
        let browser_id = set_cookie(&headers, web::BROWSER_COOKIE).unwrap();
        let browser = Browser {
            cookies: format!("{session}; {browser_id}"),
            token: token_of(&page),
        };
        (browser, page)
    }

    /// `POST /chat/send` with one question.
    async fn ask(&self, t: &TestServer, question: &str) -> reqwest::Response {
        let ask =
            json!({"model": "mistral-small", "messages": [{"role": "user", "content": question}]});
        self.send(t, &ask).await
    }

    /// `POST /chat/send` with `body`, as the page sends it.
    async fn send(&self, t: &TestServer, body: &Value) -> reqwest::Response {
        browser()
            .post(t.url("/chat/send"))
            .header(COOKIE, &self.cookies)
            .header(web::TOKEN_HEADER, &self.token)
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

/// The page's events: `(name, data)`.
fn events_of(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|event| !event.is_empty())
        .map(|event| {
            let mut lines = event.lines();
            let name = lines
                .next()
                .unwrap()
                .strip_prefix("event: ")
                .unwrap()
                .to_owned();
            let data = lines.next().unwrap().strip_prefix("data: ").unwrap();
            (name, serde_json::from_str(data).unwrap())
        })
        .collect()
}

/// The answer as the page shows it once streamed: the blocks closed, in turn, then the last open.
fn shown(answers: &[&Value]) -> String {
    let settled = answers.iter().map(|a| a["settled"].as_str().unwrap());
    let open = answers.last().map_or("", |a| a["open"].as_str().unwrap());
    settled.chain([open]).collect()
}

/// A model that answers with the question, so a test controls the answer.
pub(crate) fn echoing() -> sim::SimConfig {
    sim::SimConfig {
        echo: true,
        max_tokens_default: 1_000,
        ..instant_sim()
    }
}

#[tokio::test]
async fn a_question_is_answered_through_the_gateway_as_sanitized_html() {
    let (issuer, t) = start_on(vec![echoing()], &one_endpoint(""), "").await;
    let (ada, page) = Browser::sign_in(&issuer, &t).await;
    let picker =
        r#"<option value="mistral-small">mistral-small — sur site · jusqu’à secret</option>"#;
    assert!(
        page.contains(picker),
        "where it runs, how far it is cleared: {page}"
    );
    assert!(
        page.contains("Rien de cette conversation"),
        "retention is said: {page}"
    );

    let question = "**gras** <script>alert(1)</script> [clic](javascript:alert(2))";
    let response = ada.ask(&t, question).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()[CONTENT_TYPE], "text/event-stream");
    let events = events_of(&response.text().await.unwrap());
    let (last, done) = events.last().unwrap();
    assert_eq!(last, "done", "{events:?}");
    let answers: Vec<&Value> = events
        .iter()
        .filter(|(n, _)| n == "answer")
        .map(|(_, d)| d)
        .collect();
    let html = shown(&answers);
    assert!(
        html.contains("<strong>gras</strong>"),
        "Markdown rendered: {html}"
    );
    assert!(
        html.contains("&lt;script&gt;"),
        "the script shown as text: {html}"
    );
    assert!(!html.contains("javascript:"), "the link disarmed: {html}");
    for fragment in answers.iter().flat_map(|a| [&a["settled"], &a["open"]]) {
        // A link still being written is text; once complete, it has no `javascript:` target.
        let html = fragment.as_str().unwrap();
        assert!(
            !html.contains("<script") && !html.contains("href=\"javascript"),
            "{html}"
        );
    }
    let text: String = answers
        .iter()
        .map(|a| a["delta"].as_str().unwrap())
        .collect();
    assert!(
        text.ends_with(question),
        "the raw text, for the conversation: {text}"
    );
    let request_id = done["request_id"].as_str().unwrap().to_owned();

    let thumbs = json!({"request_id": request_id, "rating": "up", "comment": "Clair"});
    let given = |token: &str| {
        browser()
            .post(t.url("/chat/feedback"))
            .header(COOKIE, &ada.cookies)
            .header(web::TOKEN_HEADER, token)
            .json(&thumbs)
            .send()
    };
    assert_eq!(
        given("").await.unwrap().status().as_u16(),
        403,
        "feedback needs the token"
    );
    assert_eq!(given(&ada.token).await.unwrap().status().as_u16(), 202);

    let records = t.finish().await;
    let record = records.iter().find(|r| r.request_id == request_id).unwrap();
    assert!(
        record.user_id.is_some() && record.key_id.is_none(),
        "{record:?}"
    );
    assert_eq!((record.status, record.stream), (200, true));
    assert!(record.completion_tokens > 0, "{record:?}");
}

#[tokio::test]
async fn nothing_is_sent_without_the_token_or_signed_out() {
    let (issuer, t) = start_on(vec![echoing()], &one_endpoint(""), "").await;
    let (ada, _) = Browser::sign_in(&issuer, &t).await;
    let forged = Browser {
        cookies: ada.cookies.clone(),
        token: String::new(),
    };
    assert_eq!(forged.ask(&t, "Bonjour").await.status().as_u16(), 403);
    let signed_out = Browser {
        cookies: String::new(),
        token: ada.token.clone(),
    };
    assert_eq!(signed_out.ask(&t, "Bonjour").await.status().as_u16(), 401);
    assert_eq!(t.sims[0].0.stats().chat_requests, 0);
}

#[tokio::test]
async fn personal_data_hidden_from_the_model_is_noticed_by_kind_and_count_and_a_block_explained() {
    let policy = "[policy.actions]\nIBAN = \"pseudonymize\"\nNIR = \"block\"\n";
    let (issuer, t) = start_on(vec![echoing()], &one_endpoint(policy), "").await;
    let (ada, _) = Browser::sign_in(&issuer, &t).await;
    let iban = "FR76 3000 6000 0112 3456 7890 189";
    let response = ada.ask(&t, &format!("Virement vers {iban}")).await;
    let events = events_of(&response.text().await.unwrap());
    let (name, notice) = &events[0];
    assert_eq!(name, "notice", "{events:?}");
    let notice = notice["text"].as_str().unwrap();
    assert_eq!(notice, "1 IBAN pseudonymisé(s) avant l’envoi");
    let (last, _) = events.last().unwrap();
    assert_eq!(last, "done");

    let response = ada.ask(&t, "Mon NIR est 1 85 05 78 006 084 91").await;
    let events = events_of(&response.text().await.unwrap());
    let (name, refused) = &events[0];
    assert_eq!(name, "refused", "{events:?}");
    let html = refused["html"].as_str().unwrap();
    assert!(html.contains("refusée") && html.contains("NIR"), "{html}");
    assert!(!html.contains("084 91"), "never the value: {html}");
}

#[tokio::test]
async fn stopping_an_answer_charges_what_was_generated() {
    let slow = sim::SimConfig {
        tokens_per_second: 1.0,
        ..instant_sim()
    };
    let (issuer, t) = start_on(vec![slow], &one_endpoint(""), "").await;
    let (ada, _) = Browser::sign_in(&issuer, &t).await;
    let mut response = ada.ask(&t, "Racontez une longue histoire").await;
    let mut seen = String::new();
    while !seen.contains("event: answer") {
        let chunk = response.chunk().await.unwrap().expect("an answer begins");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(response);

    let records = t.finish().await;
    assert_stopped_and_charged(records.iter().find(|r| r.stream));
}

/// The usage record of an answer stopped mid-stream: cut by the person, charged to them for what
/// was generated.
pub(crate) fn assert_stopped_and_charged(record: Option<&domain::UsageRecord>) {
    let record = record.expect("the stopped answer is metered");
    let cut = record.error_code.as_deref();
    assert_eq!(cut, Some("client_disconnected"), "{record:?}");
    assert!(
        record.completion_tokens > 0,
        "what was generated is charged: {record:?}"
    );
    assert!(
        record.user_id.is_some(),
        "charged to the person: {record:?}"
    );
}

#[tokio::test]
async fn a_conversation_raised_above_every_cleared_model_says_so_plainly() {
    let cloud = r#"
[[endpoints]]
name = "cloud"
kind = "vllm"
url = "{sim0}"
hosting = "eu_cloud"
clearance = "internal"

[[models]]
name = "mistral-small"
kind = "chat"
endpoints = ["cloud"]
"#;
    let (issuer, t) = start_on(vec![echoing()], cloud, "").await;
    let (ada, page) = Browser::sign_in(&issuer, &t).await;
    for level in ["public", "internal", "confidential", "secret"] {
        let option = format!(r#"<option value="{level}">"#);
        assert!(page.contains(&option), "{level} is offered: {page}");
    }
    let ask = |level: &'static str| {
        json!({"model": "mistral-small", "level": level,
            "messages": [{"role": "user", "content": "Bonjour"}]})
    };
    let events = events_of(&ada.send(&t, &ask("secret")).await.text().await.unwrap());
    let (name, refused) = &events[0];
    assert_eq!(name, "refused", "{events:?}");
    let html = refused["html"].as_str().unwrap();
    assert!(html.contains("Aucun modèle habilité"), "{html}");
    assert_eq!(
        t.sims[0].0.stats().chat_requests,
        0,
        "nothing left for the cloud"
    );

    let events = events_of(&ada.send(&t, &ask("internal")).await.text().await.unwrap());
    assert_eq!(events.last().unwrap().0, "done", "{events:?}");
}

/// Conversations kept: the group's retention is `full`; Globex exists for a stranger.
fn keeping() -> String {
    keeping_with("")
}

/// [`keeping`], with `extra` configuration.
fn keeping_with(extra: &str) -> String {
    one_endpoint(&format!(
        r#"
[retention]
master_key_env = "{MASTER_KEY_ENV}"
mode = "full"
days = 30

[[entities]]
slug = "globex"
name = "Globex"

{extra}
"#
    ))
}

impl Browser {
    /// `POST /chat/send` continuing `conversation` (or a new one) with `messages`; its events.
    async fn say(
        &self,
        t: &TestServer,
        conversation: Option<&str>,
        messages: Value,
    ) -> Vec<(String, Value)> {
        let ask =
            json!({"model": "mistral-small", "conversation": conversation, "messages": messages});
        let response = self.send(t, &ask).await;
        assert_eq!(response.status().as_u16(), 200);
        events_of(&response.text().await.unwrap())
    }

    async fn get(&self, t: &TestServer, path: &str) -> (u16, String) {
        let response = browser()
            .get(t.url(path))
            .header(COOKIE, &self.cookies)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn change(&self, t: &TestServer, path: &str, title: &str) -> u16 {
        let form = [("csrf", self.token.as_str()), ("title", title)];
        let response = browser()
            .post(t.url(path))
            .header(COOKIE, &self.cookies)
            .form(&form)
            .send();
        response.await.unwrap().status().as_u16()
    }

    /// `POST /chat/feedback` on the answer `request_id` of `conversation`: the status.
    async fn thumbs_up(&self, t: &TestServer, conversation: &str, request_id: &str) -> u16 {
        let verdict =
            json!({"request_id": request_id, "rating": "up", "conversation": conversation});
        let response = browser()
            .post(t.url("/chat/feedback"))
            .header(COOKIE, &self.cookies)
            .header(web::TOKEN_HEADER, &self.token)
            .json(&verdict)
            .send();
        response.await.unwrap().status().as_u16()
    }

    /// 200 when `page` links to the conversation `id`, else 404: what a list or a search shows.
    async fn finds(&self, t: &TestServer, page: &str, id: &str) -> u16 {
        let (status, body) = self.get(t, page).await;
        assert_eq!(status, 200, "{body}");
        match body.contains(&format!(r#"href="/c/{id}""#)) {
            true => 200,
            false => 404,
        }
    }

    /// Every action on `id` (whose first answer is `request_id`), as this person: the statuses,
    /// in the order of [`ACTIONS`].
    async fn try_everything(&self, t: &TestServer, id: &str, request_id: &str) -> Vec<u16> {
        let feedback = self.thumbs_up(t, id, request_id).await;
        let searched = self.finds(t, "/search?q=projet", id).await;
        let listed = self.finds(t, "/", id).await;
        let continued = {
            let ask = json!({"model": "mistral-small", "conversation": id,
                "messages": [{"role": "user", "content": "Et ensuite ?"}]});
            self.send(t, &ask).await.status().as_u16()
        };
        vec![
            feedback,
            searched,
            listed,
            self.get(t, &format!("/c/{id}")).await.0,
            continued,
            self.get(t, &format!("/c/{id}/export")).await.0,
            self.change(t, &format!("/c/{id}/rename"), "Pris").await,
            self.change(t, &format!("/c/{id}/pin"), "").await,
            self.change(t, &format!("/c/{id}/delete"), "").await,
        ]
    }
}

/// Feedback on an answer, search, list, read, continue (and stream), export, rename, pin, delete.
const ACTIONS: usize = 9;

async fn signed_in_as(issuer: &::oidc::testing::TestIssuer, t: &TestServer, user: &str) -> Browser {
    let session = browser_session(issuer, t, user).await;
    let (_, headers, page) = page(t, &session, "fr").await;
    let browser_id = set_cookie(&headers, web::BROWSER_COOKIE).unwrap();
    Browser {
        cookies: format!("{session}; {browser_id}"),
        token: token_of(&page),
    }
}

/// The answer's text, as the model wrote it: the `answer` events' deltas.
fn answer_text(events: &[(String, Value)]) -> String {
    let answers = events.iter().filter(|(name, _)| name == "answer");
    answers
        .map(|(_, data)| data["delta"].as_str().unwrap())
        .collect()
}

/// The `request_id` of the answer that ends `events`.
fn answered(events: &[(String, Value)]) -> String {
    let (last, done) = events.last().unwrap();
    assert_eq!(last, "done", "{events:?}");
    done["request_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_kept_conversation_is_sealed_one_row_a_message_reopened_renamed_pinned_exported_and_deleted()
 {
    let (issuer, t) = start_on(vec![echoing()], &keeping(), "").await;
    let ada = signed_in_as(&issuer, &t, "ada").await;
    let secret = "Le code du coffre Vauban est 4242";
    let events = ada
        .say(&t, None, json!([{"role": "user", "content": secret}]))
        .await;
    let (name, kept) = &events[0];
    assert_eq!(name, "conversation", "{events:?}");
    let id = kept["id"].as_str().unwrap().to_owned();
    let answer = answer_text(&events);
    assert!(!answer.is_empty(), "{events:?}");
    // Continuing, the page sends the question alone: the gateway is asked the whole
    // conversation, read from the store.
    let merci = json!([{"role": "user", "content": "Merci"}]);
    let alone = ada.say(&t, None, merci.clone()).await;
    let events = ada.say(&t, Some(&id), merci).await;
    assert_eq!(
        events[0].1["id"],
        id.as_str(),
        "the same conversation goes on"
    );
    let prompt = |events: &[(String, Value)]| events.last().unwrap().1["prompt_tokens"].as_u64();
    assert!(
        prompt(&events) > prompt(&alone),
        "the history is in the prompt: {events:?} against {alone:?}"
    );
    let two = json!([{"role": "user", "content": "Un"}, {"role": "user", "content": "Deux"}]);
    let ask = json!({"model": "mistral-small", "conversation": id, "messages": two});
    let response = ada.send(&t, &ask).await;
    assert_eq!(response.status().as_u16(), 400, "a question alone");
    // The last question edited: it replaces the one at its position, and its answer.
    let edited = json!([{"role": "user", "content": "Merci beaucoup"}]);
    let ask = json!({"model": "mistral-small", "conversation": id, "position": 2,
        "messages": edited});
    let response = ada.send(&t, &ask).await;
    answered(&events_of(&response.text().await.unwrap()));

    let store = &t.server.store;
    let rows = store.messages_of(&id).await.unwrap();
    assert_eq!(rows.len(), 4, "one row a message: {rows:?}");
    let positions: Vec<i64> = rows.iter().map(|row| row.position).collect();
    assert_eq!(positions, [0, 1, 2, 3]);
    let clear = secret.as_bytes();
    for row in &rows {
        assert!(
            !row.sealed.windows(clear.len()).any(|w| w == clear),
            "sealed"
        );
    }
    let conversation = store.conversation(&id).await.unwrap().unwrap();
    assert!(
        !conversation
            .sealed_title
            .windows(clear.len())
            .any(|w| w == clear)
    );

    let (status, page) = ada.get(&t, &format!("/c/{id}")).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(secret) && page.contains("Merci beaucoup"),
        "{page}"
    );
    let replaced = r#"<div class="body">Merci</div>"#;
    assert!(
        !page.contains(replaced),
        "the question edited is replaced: {page}"
    );
    // The title four times (head, list, heading, rename field), then each message once: the page
    // holds no second copy of the text to send back.
    assert_eq!(page.matches(secret).count(), 6, "{page}");
    assert!(
        page.contains(&format!(r#"href="/c/{id}""#)),
        "listed: {page}"
    );
    assert_eq!(
        ada.change(&t, &format!("/c/{id}/rename"), "Coffre").await,
        303
    );
    assert_eq!(ada.change(&t, &format!("/c/{id}/pin"), "").await, 303);
    let (_, page) = ada.get(&t, &format!("/c/{id}")).await;
    assert!(
        page.contains("<h1>Coffre</h1>") && page.contains("Désépingler"),
        "{page}"
    );
    let (status, markdown) = ada.get(&t, &format!("/c/{id}/export")).await;
    assert_eq!(status, 200);
    assert!(
        markdown.starts_with("# Coffre\n") && markdown.contains(secret),
        "{markdown}"
    );

    assert_eq!(ada.change(&t, &format!("/c/{id}/delete"), "").await, 303);
    assert_eq!(ada.get(&t, &format!("/c/{id}")).await.0, 404);
    assert!(store.conversation(&id).await.unwrap().is_none());
    assert!(
        store.messages_of(&id).await.unwrap().is_empty(),
        "really deleted"
    );
}

#[tokio::test]
async fn nobody_but_its_owner_reaches_a_conversation_whatever_the_action() {
    let (issuer, t) = start_on(vec![echoing()], &keeping(), "").await;
    t.create_user_key("globex", "eve").await;
    t.create_user_key("acme", "bob").await;
    let ada = signed_in_as(&issuer, &t, "ada").await;
    let events = ada
        .say(&t, None, json!([{"role": "user", "content": "Mon projet"}]))
        .await;
    let id = events[0].1["id"].as_str().unwrap().to_owned();
    let request_id = answered(&events);

    for stranger in ["bob", "eve"] {
        let them = signed_in_as(&issuer, &t, stranger).await;
        let statuses = them.try_everything(&t, &id, &request_id).await;
        assert_eq!(
            statuses,
            vec![404; ACTIONS],
            "{stranger}, a colleague or not, finds nothing"
        );
    }
    let store = &t.server.store;
    assert_eq!(
        store.messages_of(&id).await.unwrap().len(),
        2,
        "nothing added"
    );
    let (_, page) = ada.get(&t, &format!("/c/{id}")).await;
    assert!(
        page.contains("<h1>Mon projet</h1>"),
        "nothing renamed: {page}"
    );

    let statuses = ada.try_everything(&t, &id, &request_id).await;
    assert_eq!(
        statuses,
        vec![202, 200, 200, 200, 200, 200, 303, 303, 303],
        "its owner does everything"
    );
    let elsewhere = ada.thumbs_up(&t, "cnv_none", &request_id).await;
    assert_eq!(
        elsewhere, 404,
        "feedback names the conversation holding the answer"
    );
}

#[tokio::test]
async fn a_persons_conversations_are_erased_with_them() {
    let (issuer, t) = start_on(vec![echoing()], &keeping(), "").await;
    let ada = signed_in_as(&issuer, &t, "ada").await;
    let events = ada
        .say(&t, None, json!([{"role": "user", "content": "À effacer"}]))
        .await;
    let id = events[0].1["id"].as_str().unwrap().to_owned();
    let (status, body) = call(
        &t,
        reqwest::Method::POST,
        "/admin/v1/users/ada/erase",
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(t.server.store.conversation(&id).await.unwrap().is_none());
    assert!(t.server.store.messages_of(&id).await.unwrap().is_empty());
    assert_eq!(ada.get(&t, &format!("/c/{id}")).await.0, 404);
}

/// The tokens the chat estimates a message takes in a prompt: four characters a token, four more
/// for its framing (`web`'s `prompt`).
fn estimated(message: &Value) -> usize {
    message["content"]
        .as_str()
        .unwrap()
        .chars()
        .count()
        .div_ceil(4)
        + 4
}

/// A conversation kept on `database` and longer than its model's context: each question is sent
/// with the newest messages before it that fit three quarters of the context, from a question on,
/// as the model receives them (read back from the kept prompts); a question alone longer than the
/// whole context is refused with both sizes, and nothing of it kept.
async fn a_conversation_longer_than_the_models_context_sends_its_newest_messages_that_fit(
    database: Database,
) {
    let small = "[[models]]\nname = \"small\"\nkind = \"chat\"\nendpoints = [\"gpu\"]\n\
                 context_length = 200\n";
    let config = keeping_with(small);
    let Some((issuer, t)) = start_on_database(database, vec![echoing()], &config, "").await else {
        return;
    };
    let ada = signed_in_as(&issuer, &t, "ada").await;
    let (mut id, mut conversation) = (None::<String>, Vec::new());
    for i in 0..8 {
        let question =
            json!({"role": "user", "content": format!("Question {i} : {}", "mot ".repeat(12))});
        let ask = json!({"model": "small", "conversation": id, "messages": [question]});
        let events = events_of(&ada.send(&t, &ask).await.text().await.unwrap());
        assert!(
            events.iter().all(|(name, _)| name != "refused"),
            "{events:?}"
        );
        id = Some(events[0].1["id"].as_str().unwrap().to_owned());
        answered(&events);
        let answer = answer_text(&events);
        conversation.extend([question, json!({"role": "assistant", "content": answer})]);
    }
    let id = id.unwrap();

    let too_long = json!([{"role": "user", "content": "Une clause de plus. ".repeat(50)}]);
    let ask = json!({"model": "small", "conversation": id, "messages": too_long});
    let response = ada.send(&t, &ask).await;
    assert_eq!(response.status().as_u16(), 413);
    let refused = response.text().await.unwrap();
    assert!(
        refused.contains("environ 254 jetons") && refused.contains("(200 jetons)"),
        "both sizes said: {refused}"
    );
    let kept = t.server.store.messages_of(&id).await.unwrap();
    assert_eq!(
        kept.len(),
        conversation.len(),
        "the whole conversation is kept, not the refused question"
    );

    // The prompts as the model received them, kept by the gateway (written at the restart).
    let t = t.restart().await;
    let range = crate::retention::range();
    let path = format!("/admin/v1/content?user=ada&{range}");
    let (status, read) = call(&t, reqwest::Method::GET, &path, ADMIN_KEY, None).await;
    assert_eq!(status, 200, "{read}");
    let prompts = read["data"].as_array().unwrap();
    assert_eq!(prompts.len(), 8, "{read}");
    let last = prompts
        .iter()
        .map(|record| record["input"].as_array().unwrap())
        .find(|input| input.last() == conversation.get(14))
        .expect("the last question's prompt");
    let history = &last[..last.len() - 1];
    let before = &conversation[..14];
    let cut = before.len() - history.len();
    assert!(
        cut > 0 && !history.is_empty(),
        "a part of the history: {last:?}"
    );
    assert_eq!(history, &before[cut..], "its newest messages, in order");
    assert_eq!(history[0]["role"], "user", "from a question on");
    let sent: usize = last.iter().map(estimated).sum();
    assert!(sent <= 150, "within three quarters of the context: {sent}");
    let older = match before[cut - 1]["role"].as_str() {
        Some("assistant") => estimated(&before[cut - 1]) + estimated(&before[cut - 2]),
        _ => estimated(&before[cut - 1]),
    };
    assert!(sent + older > 150, "as many as fit: {sent} + {older}");
}

#[tokio::test]
async fn a_conversation_longer_than_the_context_is_cut_to_it_on_sqlite() {
    a_conversation_longer_than_the_models_context_sends_its_newest_messages_that_fit(
        Database::Sqlite,
    )
    .await;
}

#[tokio::test]
async fn a_conversation_longer_than_the_context_is_cut_to_it_on_postgres() {
    a_conversation_longer_than_the_models_context_sends_its_newest_messages_that_fit(
        Database::Postgres,
    )
    .await;
}

#[tokio::test]
async fn reference_links_streamed_are_rendered_at_the_answers_end() {
    let (issuer, t) = start_on(vec![echoing()], &one_endpoint(""), "").await;
    let (ada, _) = Browser::sign_in(&issuer, &t).await;
    let answer = "Voir [la source][src].\n\nSuite.\n\n[src]: https://example.com/source\n";
    let events = events_of(&ada.ask(&t, answer).await.text().await.unwrap());
    let streamed: Vec<&Value> = events
        .iter()
        .filter(|(n, _)| n == "answer")
        .map(|(_, d)| d)
        .collect();
    assert!(
        !shown(&streamed).contains("<a "),
        "a block closed before the definition did not see it: {streamed:?}"
    );
    let rendered = events.iter().find(|(n, _)| n == "rendered");
    let html = rendered
        .map(|(_, d)| d["html"].as_str().unwrap())
        .unwrap_or_default();
    let link = r#"<a href="https://example.com/source" rel="noopener noreferrer nofollow">"#;
    assert!(html.contains(link), "{events:?}");
    assert_eq!(events.last().unwrap().0, "done");
    let plain = events_of(&ada.ask(&t, "Sans lien.").await.text().await.unwrap());
    assert!(
        plain.iter().all(|(n, _)| n != "rendered"),
        "an answer without definitions is not sent again: {plain:?}"
    );
}

#[tokio::test]
async fn footnotes_streamed_are_rendered_at_the_answers_end_named_by_its_place() {
    let (issuer, t) = start_on(vec![echoing()], &one_endpoint(""), "").await;
    let (ada, _) = Browser::sign_in(&issuer, &t).await;
    let noted = "Une note[^1].\n\nSuite.\n\n[^1]: La source.\n";
    let rendered = |body: &str| {
        let events = events_of(body);
        let rendered = events.iter().find(|(n, _)| n == "rendered");
        rendered.map(|(_, d)| d["html"].as_str().unwrap().to_owned())
    };
    let first = rendered(&ada.ask(&t, noted).await.text().await.unwrap()).unwrap();
    assert!(first.contains(r##"<a href="#fn-1-1""##), "{first}");
    assert!(first.contains(r#"id="fn-1-1""#), "{first}");
    // The next answer on the page, third in the conversation, names its notes apart.
    let turn = |role: &str| json!({"role": role, "content": noted});
    let messages = [turn("user"), turn("assistant"), turn("user")];
    let again = json!({"model": "mistral-small", "messages": messages});
    let third = rendered(&ada.send(&t, &again).await.text().await.unwrap()).unwrap();
    assert!(third.contains(r##"<a href="#fn-3-1""##), "{third}");
    assert!(!third.contains("fn-1-"), "{third}");
}

#[tokio::test]
async fn signing_out_ends_the_session_on_the_server_and_needs_the_token() {
    let (issuer, t) = start().await;
    let ada = signed_in_as(&issuer, &t, "ada").await;
    let (status, page) = ada.get(&t, "/").await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"action="/signout""#), "{page}");

    let sign_out = |token: &str| {
        browser()
            .post(t.url("/signout"))
            .header(COOKIE, &ada.cookies)
            .form(&[("csrf", token)])
            .send()
    };
    assert_eq!(sign_out("").await.unwrap().status().as_u16(), 403);
    let (_, page) = ada.get(&t, "/").await;
    assert!(
        page.contains("Connecté en tant que"),
        "still signed in: {page}"
    );

    let response = sign_out(&ada.token).await.unwrap();
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()["location"], "/");
    let removal = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("fabrique_session=;") || v.starts_with("fabrique_session=\"\""))
        .expect("the session cookie is cleared");
    assert!(removal.contains("Max-Age=0"), "{removal}");

    let (_, page) = ada.get(&t, "/").await;
    assert!(
        page.contains("Connexion") && !page.contains("Connecté en tant que"),
        "the old cookie opens nothing: {page}"
    );
    let models = browser()
        .get(t.url("/v1/models"))
        .header(COOKIE, &ada.cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(models.status().as_u16(), 401, "nor the API");
}

#[tokio::test]
async fn a_person_searches_their_conversations_grouped_by_date_and_rates_a_reopened_answer() {
    let (issuer, t) = start_on(vec![echoing()], &keeping(), "").await;
    let ada = signed_in_as(&issuer, &t, "ada").await;
    let first = "Le code du coffre Vauban";
    let events = ada
        .say(&t, None, json!([{"role": "user", "content": first}]))
        .await;
    let vauban = events[0].1["id"].as_str().unwrap().to_owned();
    let next = json!([{"role": "user", "content": "Et la clé de la tour Colbert ?"}]);
    let request_id = answered(&ada.say(&t, Some(&vauban), next).await);
    let events = ada
        .say(
            &t,
            None,
            json!([{"role": "user", "content": "Recette de la tarte"}]),
        )
        .await;
    let tarte = events[0].1["id"].as_str().unwrap().to_owned();
    let bob = signed_in_as(&issuer, &t, "bob").await;
    bob.say(
        &t,
        None,
        json!([{"role": "user", "content": "Colbert, mon voisin"}]),
    )
    .await;

    let (_, page) = ada.get(&t, "/").await;
    assert!(
        page.contains("<h3>Aujourd’hui</h3>"),
        "grouped by date: {page}"
    );
    let links = |page: &str| {
        [&vauban, &tarte]
            .map(|id| page.contains(&format!(r#"href="/c/{id}""#)))
            .to_vec()
    };
    let (status, page) = ada.get(&t, "/search?q=COLBERT").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(links(&page), [true, false], "found in a message: {page}");
    assert!(page.contains("Et la clé de la tour Colbert ?"), "{page}");
    assert!(!page.contains("mon voisin"), "never another's: {page}");
    let (_, page) = ada.get(&t, "/search?q=tarte").await;
    assert_eq!(links(&page), [false, true], "found in a title: {page}");
    let (_, page) = ada.get(&t, "/search?q=introuvable").await;
    assert_eq!(links(&page), [false, false]);
    assert!(page.contains("Aucune de vos conversations"), "{page}");

    let (_, page) = ada.get(&t, &format!("/c/{vauban}")).await;
    assert!(
        page.contains(&format!(r#"data-request-id="{request_id}""#)),
        "a reopened answer can be rated: {page}"
    );
    assert_eq!(ada.thumbs_up(&t, &vauban, &request_id).await, 202);
    assert_eq!(
        ada.thumbs_up(&t, &tarte, &request_id).await,
        404,
        "not an answer of that conversation"
    );
}

#[tokio::test]
async fn a_person_sees_their_usage_this_month_against_their_own_budget() {
    let (issuer, t) = start().await;
    let ada = signed_in_as(&issuer, &t, "ada").await;
    let store = &t.server.store;
    let users = store.list_users(None, store::Window::ALL).await.unwrap();
    let user = |name: &str| users.iter().find(|u| u.user_name == name).unwrap().clone();
    let (ada_record, bob_id) = (user("ada"), domain::UserId::generate());
    let record = |n: u64, user_id, started_at| domain::UsageRecord {
        request_id: format!("month-{n}"),
        client_request_id: None,
        started_at,
        entity_id: Some(ada_record.entity_id),
        user_id: Some(user_id),
        service_account_id: None,
        key_id: None,
        team_id: None,
        use_case: None,
        use_case_version: None,
        operation: domain::Operation::Chat,
        model: "mistral-small".into(),
        endpoint: Some("gpu-a".into()),
        stream: true,
        prompt_tokens: 1_000,
        completion_tokens: 234,
        cost_micros: 60_000,
        ttft_ms: Some(3),
        duration_ms: 7,
        status: 200,
        error_code: None,
        attempts: 1,
        classification: None,
        hosting: None,
        usage_estimated: false,
        cache_hit: false,
    };
    let now = domain::now_millis();
    let last_month = now - 40 * 24 * 3_600_000;
    let records = [
        record(1, ada_record.id, now),
        record(2, ada_record.id, now),
        record(3, bob_id, now),
        record(4, ada_record.id, last_month),
    ];
    store.insert_usage(&records).await.unwrap();
    let budgets = format!("/admin/v1/budgets/user/{}", ada_record.id);
    let limit = json!({"period": "month", "unit": "tokens", "hard_limit": 1_000_000});
    let (status, body) = call(&t, reqwest::Method::PUT, &budgets, ADMIN_KEY, Some(limit)).await;
    assert_eq!(status, 200, "{body}");

    let (_, page) = ada.get(&t, "/").await;
    assert!(page.contains("Votre consommation ce mois-ci"), "{page}");
    assert!(
        page.contains("2 requêtes · 2\u{202f}468 jetons · coût 0,12"),
        "ada's two records of this month, not bob's nor last month's: {page}"
    );
    assert!(
        page.contains("Budget mensuel en jetons : 2\u{202f}468 / 1\u{202f}000\u{202f}000"),
        "the budget counts the month's usage: {page}"
    );
    assert!(
        page.contains(r#"max="1000000" value="2468""#),
        "a meter: {page}"
    );
}

/// Deploys the use case `letters` of acme through the factory's API: drafted, evaluated on a
/// suite the echoing model passes, approved by acme's risk officer, deployed.
pub(crate) async fn deploy_letters(t: &TestServer) {
    let suite = r#"{"id": "a", "variables": {"client": "Ada"}, "messages": [{"role": "user", "content": "Bonjour"}], "expect": [{"grader": "contains", "value": "Bonjour"}]}
"#;
    let use_case = json!({
        "slug": "letters", "name": "Courriers", "purpose": "Rédige les courriers aux clients.",
    });
    let version = json!({"template": "Tu écris à {{client}}.", "model": "mistral-small"});
    deploy_assistant(t, use_case, version, suite).await;
}

/// Deploys `use_case` (its slug, name and purpose) of acme with `version`, through the factory's
/// API: drafted, evaluated on `suite`, which it must pass, approved by acme's risk officer,
/// deployed.
async fn deploy_assistant(t: &TestServer, use_case: Value, version: Value, suite: &str) {
    use domain::Role;
    let slug = use_case["slug"].as_str().unwrap().to_owned();
    let (_, engineer) = t
        .create_role_key("acme", "fay", Role::FactoryEngineer, true)
        .await;
    let (_, officer) = t
        .create_role_key("acme", "otto", Role::RiskOfficer, true)
        .await;
    let admin = |key: &str, method, path: &str, body| {
        let (key, path) = (key.to_owned(), path.to_owned());
        async move { call(t, method, &path, &key, body).await }
    };
    let mut definition = json!({
        "owner_entity": "acme", "owners": ["fay"], "allowed_entities": ["acme"],
        "risk_class": "minimal"
    });
    for field in ["slug", "name", "purpose"] {
        definition[field] = use_case[field].clone();
    }
    let post = reqwest::Method::POST;
    let (status, body) = admin(
        &engineer,
        post.clone(),
        "/admin/v1/use-cases",
        Some(definition),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let versions = format!("/admin/v1/use-cases/{slug}/versions");
    let (status, body) = admin(&engineer, post.clone(), &versions, Some(version)).await;
    assert_eq!(status, 201, "{body}");
    let response = t
        .http
        .put(t.url(&format!("/admin/v1/use-cases/{slug}/suites/basic")))
        .bearer_auth(&engineer)
        .body(suite.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let transitions = &format!("/admin/v1/use-cases/{slug}/versions/1/transitions");
    let submit = json!({"transition": "submit", "reason": "prêt"});
    let (status, body) = admin(&engineer, post.clone(), transitions, Some(submit)).await;
    assert_eq!(status, 200, "{body}");
    let run = json!({"version": 1, "suite": "basic"});
    let evaluations = format!("/admin/v1/use-cases/{slug}/evaluations");
    let (status, run) = admin(&engineer, post.clone(), &evaluations, Some(run)).await;
    assert_eq!(status, 202, "{run}");
    let path = format!("/admin/v1/evaluations/{}", run["id"].as_str().unwrap());
    let report = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            let (_, report) = admin(&engineer, reqwest::Method::GET, &path, None).await;
            if report["status"] != "running" {
                return report;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the run finishes");
    assert_eq!(report["gate"]["passed"], true, "{report}");
    let approve = json!({"transition": "approve", "reason": "ok", "eval_run": run["id"]});
    let (status, body) = admin(&officer, post.clone(), transitions, Some(approve)).await;
    assert_eq!(
        (status, body["state"].as_str()),
        (200, Some("approved")),
        "{body}"
    );
    let deploy = json!({"transition": "deploy", "reason": "en service", "weight": 100});
    let (status, body) = admin(&engineer, post, transitions, Some(deploy)).await;
    assert_eq!(
        (status, body["state"].as_str()),
        (200, Some("deployed")),
        "{body}"
    );
}

#[tokio::test]
async fn a_deployed_use_case_is_an_assistant_to_its_entitys_people_and_is_charged_its_answers() {
    let globex = "[[entities]]\nslug = \"globex\"\nname = \"Globex\"\n";
    let (issuer, t) = start_on(vec![echoing()], &one_endpoint(globex), "").await;
    deploy_letters(&t).await;
    t.create_user_key("globex", "gus").await;

    let ada = signed_in_as(&issuer, &t, "ada").await;
    let (_, page) = ada.get(&t, "/").await;
    assert!(
        page.contains(r#"<optgroup label="Assistants">"#)
            && page.contains(r#"<option value="usecase/letters" title="Rédige les courriers aux clients.">Courriers</option>"#),
        "{page}"
    );
    assert!(
        page.contains(r#"data-for="usecase/letters""#)
            && page.contains(r#"data-variable="client""#),
        "its variable asked for: {page}"
    );
    let gus = signed_in_as(&issuer, &t, "gus").await;
    let (_, page) = gus.get(&t, "/").await;
    assert!(!page.contains("usecase/letters"), "not globex's: {page}");

    let ask = json!({"model": "usecase/letters", "variables": {"client": "Ada"},
        "messages": [{"role": "user", "content": "Bonjour"}]});
    let response = ada.send(&t, &ask).await;
    let events = events_of(&response.text().await.unwrap());
    let request_id = answered(&events);
    let verdict = json!({"request_id": request_id, "rating": "down", "comment": "Trop court"});
    let response = browser()
        .post(t.url("/chat/feedback"))
        .header(COOKIE, &ada.cookies)
        .header(web::TOKEN_HEADER, &ada.token)
        .json(&verdict)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);

    let store = t.server.store.clone();
    let records = t.finish().await;
    let record = records.iter().find(|r| r.request_id == request_id).unwrap();
    assert_eq!(
        (record.use_case.as_deref(), record.use_case_version),
        (Some("letters"), Some(1)),
        "charged to the use case and its version: {record:?}"
    );
    assert!(record.user_id.is_some(), "{record:?}");
    let stats = store.version_stats("letters", 0).await.unwrap();
    let (_, version, ..) = stats.iter().find(|(n, ..)| *n == 1).unwrap();
    assert_eq!(
        (version.thumbs_up, version.thumbs_down),
        (0, 1),
        "the feedback counts for the version"
    );
}

/// An assistant whose version answers with checked structured output is offered like any other;
/// an answer that keeps to its schema streams to the page, one that breaks it is followed by a
/// `refused` event saying so, then `done` (its request id, for feedback).
#[tokio::test]
async fn an_assistant_with_an_output_schema_is_offered_and_its_answers_checked() {
    let line = |when: &str, answer: &str| sim::ScriptLine {
        when: when.into(),
        answer: answer.into(),
    };
    let sim = sim::SimConfig {
        script: vec![
            line("facture 17", r#"{"montant": 17.5}"#),
            line("facture cassée", r#"{"montant": "beaucoup"}"#),
        ],
        max_tokens_default: 1_000,
        ..instant_sim()
    };
    let (issuer, t) = start_on(vec![sim], &one_endpoint(""), "").await;
    let use_case = json!({"slug": "invoices", "name": "Factures", "purpose": "Lit les factures."});
    let version = json!({
        "template": "Lis la facture.", "model": "mistral-small",
        "output_schema": {"type": "object", "required": ["montant"],
            "properties": {"montant": {"type": "number"}}},
    });
    let suite = r#"{"id": "a", "messages": [{"role": "user", "content": "facture 17"}], "expect": [{"grader": "fields", "value": {"montant": 17.5}}]}
"#;
    deploy_assistant(&t, use_case, version, suite).await;

    let ada = signed_in_as(&issuer, &t, "ada").await;
    let (_, page) = ada.get(&t, "/").await;
    assert!(
        page.contains(
            r#"<option value="usecase/invoices" title="Lit les factures.">Factures</option>"#
        ),
        "{page}"
    );
    let ask = |text: &str| json!({"model": "usecase/invoices", "messages": [{"role": "user", "content": text}]});
    let events = events_of(&ada.send(&t, &ask("facture 17")).await.text().await.unwrap());
    answered(&events);
    let text = answer_text(&events);
    assert_eq!(text, r#"{"montant": 17.5}"#, "{events:?}");
    assert!(
        events.iter().all(|(name, _)| name != "refused"),
        "{events:?}"
    );

    let events = events_of(
        &ada.send(&t, &ask("facture cassée"))
            .await
            .text()
            .await
            .unwrap(),
    );
    answered(&events);
    let (name, refused) = &events[events.len() - 2];
    assert_eq!(name, "refused", "{events:?}");
    let html = refused["html"].as_str().unwrap();
    assert!(
        html.contains("ne respecte pas le format") && html.contains("beaucoup"),
        "{html}"
    );
    let records = t.finish().await;
    let codes: Vec<_> = records
        .iter()
        .filter(|r| r.use_case.as_deref() == Some("invoices") && r.user_id.is_some())
        .map(|r| r.error_code.as_deref())
        .collect();
    assert_eq!(codes, [None, Some("output_schema_violation")]);
}

impl Browser {
    /// `POST /chat/attach` of `bytes` named `name`, for `model`: status and body.
    async fn attach(
        &self,
        t: &TestServer,
        name: &str,
        model: &str,
        bytes: Vec<u8>,
    ) -> (u16, String) {
        let response = browser()
            .post(t.url("/chat/attach"))
            .query(&[("name", name), ("model", model)])
            .header(COOKIE, &self.cookies)
            .header(web::TOKEN_HEADER, &self.token)
            .body(bytes)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }
}

#[tokio::test]
async fn an_attached_document_is_read_refused_past_the_models_context_and_inspected_with_the_question()
 {
    let config = "[policy.actions]\nIBAN = \"pseudonymize\"\n\n[[models]]\nname = \"tiny\"\n\
                  kind = \"chat\"\nendpoints = [\"gpu\"]\ncontext_length = 64\n";
    let (issuer, t) = start_on(vec![echoing()], &one_endpoint(config), "").await;
    let (ada, _) = Browser::sign_in(&issuer, &t).await;
    let iban = "FR76 3000 6000 0112 3456 7890 189";
    let document = format!("# Virement\n\nPayer la facture 17 sur {iban}.\n");

    let forged = Browser {
        cookies: ada.cookies.clone(),
        token: String::new(),
    };
    let (status, _) = forged
        .attach(
            &t,
            "note.md",
            "mistral-small",
            document.clone().into_bytes(),
        )
        .await;
    assert_eq!(status, 403, "an upload needs the token");
    let (status, refused) = ada
        .attach(&t, "outil.exe", "mistral-small", vec![0x4d, 0x5a])
        .await;
    assert_eq!(status, 415, "{refused}");
    assert!(
        refused.contains("PDF, DOCX, XLSX, PPTX, HTML, EML, TXT et Markdown"),
        "{refused}"
    );
    let (status, refused) = ada
        .attach(&t, "scan.pdf", "mistral-small", b"%PDF-1.4 rien".to_vec())
        .await;
    assert_eq!(status, 422, "{refused}");
    assert!(refused.contains("n’a pas pu être lu"), "{refused}");
    let long = "Une clause de plus. ".repeat(100);
    let (status, refused) = ada
        .attach(&t, "bail.txt", "tiny", long.clone().into_bytes())
        .await;
    assert_eq!(status, 413, "{refused}");
    assert!(
        refused.contains("environ 500 jetons") && refused.contains("(64 jetons)"),
        "both sizes said: {refused}"
    );
    let (status, read) = ada
        .attach(&t, "bail.txt", "mistral-small", long.into_bytes())
        .await;
    assert_eq!(status, 200, "{read}");

    let (status, read) = ada
        .attach(&t, "note.md", "mistral-small", document.into_bytes())
        .await;
    assert_eq!(status, 200, "{read}");
    let read: Value = serde_json::from_str(&read).unwrap();
    assert_eq!(read["name"], "note.md");
    let text = read["text"].as_str().unwrap();
    assert!(
        text.starts_with("# Virement") && text.contains(iban),
        "{text}"
    );
    let question = format!("Résume ce document.\n\n---\nDocument joint : note.md\n\n{text}");
    let response = ada.ask(&t, &question).await;
    let events = events_of(&response.text().await.unwrap());
    assert_eq!(
        events[0].1["text"], "1 IBAN pseudonymisé(s) avant l’envoi",
        "the policy read the document's text: {events:?}"
    );
    let answer = answer_text(&events);
    assert!(answer.contains("facture 17"), "{answer}");
}

/// Creates a library of `acme`'s HR policies holding one document, as the group's
/// administrator; returns its id.
pub(crate) async fn hr_library(t: &TestServer) -> String {
    let library = json!({"name": "Politiques RH", "entity": "acme", "readers": ["entity:acme"],
        "editors": ["entity:acme"], "classification": "internal"});
    let (status, created) = t.admin_post("/v1/libraries", library).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let response = browser()
        .post(t.url(&format!("/v1/libraries/{id}/documents?name=conges.md")))
        .bearer_auth(ADMIN_KEY)
        .body("# Congés\n\nLes congés payés sont de 25 jours ouvrés par an.\n")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    id
}

#[tokio::test]
async fn a_person_asks_a_library_they_may_read_and_sees_its_sources_under_the_answer() {
    let globex = "[[entities]]\nslug = \"globex\"\nname = \"Globex\"\n";
    let (issuer, t) = start_on(vec![echoing()], &one_endpoint(globex), "").await;
    let id = hr_library(&t).await;
    t.create_user_key("globex", "gus").await;

    let ada = signed_in_as(&issuer, &t, "ada").await;
    let (_, page) = ada.get(&t, "/").await;
    assert!(
        page.contains(&format!(r#"<option value="{id}">Politiques RH</option>"#)),
        "{page}"
    );
    let ask = json!({"model": "mistral-small", "library": id,
        "messages": [{"role": "user", "content": "Combien de jours de congés payés ?"}]});
    let events = events_of(&ada.send(&t, &ask).await.text().await.unwrap());
    answered(&events);
    let (_, sources) = events.iter().find(|(n, _)| n == "citations").unwrap();
    let html = sources["html"].as_str().unwrap();
    assert!(
        html.contains("Sources") && html.contains("conges.md, page 1"),
        "{html}"
    );

    // Another entity's person is offered nothing, and asking anyway is refused as not found.
    let gus = signed_in_as(&issuer, &t, "gus").await;
    let (_, page) = gus.get(&t, "/").await;
    assert!(!page.contains(&id), "{page}");
    let events = events_of(&gus.send(&t, &ask).await.text().await.unwrap());
    assert_eq!(events.last().unwrap().0, "refused", "{events:?}");
    assert!(!events.iter().any(|(n, _)| n == "citations"));
}
