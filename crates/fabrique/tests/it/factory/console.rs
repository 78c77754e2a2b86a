//! The AI Factory in the console, through a real server and a browser played by reqwest: a risk
//! officer signed in by a one-time link sees the use cases, one use case's versions and their
//! diff, its evaluation runs, its usage per version and its transitions with their reasons; she
//! approves a version from the page once the engineer attached the impact assessment there (the
//! approval recorded with its run and reason, as through the API), a form without its token or
//! without a reason is refused with the reason shown; a group-wide compliance officer gives the
//! second, group-level approval; the engineer gets the moves of his role only; another entity's
//! engineer finds nothing.

use reqwest::Method;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use super::{GOOD_SUITE, SLUG, config, evaluate, people, put_suite, scripted_sim, transition};
use crate::harness::{Database, TestServer, call};

/// A browser that keeps its cookies by hand, follows no redirect and reads English.
struct Browser {
    cookies: Vec<String>,
    token: String,
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

impl Browser {
    /// `user` signed in through a sign-in link the group's administrator mints.
    async fn sign_in(t: &TestServer, user: &str) -> Browser {
        let (status, link) = t
            .admin_post(&format!("/admin/v1/users/{user}/login-link"), json!({}))
            .await;
        assert_eq!(status, 201, "{link}");
        let response = client()
            .get(t.url(link["path"].as_str().unwrap()))
            .send()
            .await
            .unwrap();
        let mut browser = Browser {
            cookies: Vec::new(),
            token: String::new(),
        };
        browser.keep(response.headers());
        assert_eq!(browser.cookies.len(), 1, "a session cookie");
        browser
    }

    fn keep(&mut self, headers: &reqwest::header::HeaderMap) {
        for cookie in headers.get_all(SET_COOKIE) {
            let pair = cookie
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_owned();
            let name = pair.split('=').next().unwrap().to_owned();
            self.cookies.retain(|c| !c.starts_with(&format!("{name}=")));
            self.cookies.push(pair);
        }
    }

    /// `GET path`: status and page; keeps the page's form token.
    async fn get(&mut self, t: &TestServer, path: &str) -> (u16, String) {
        let response = client()
            .get(t.url(path))
            .header(COOKIE, self.cookies.join("; "))
            .header("accept-language", "en")
            .send()
            .await
            .unwrap();
        self.keep(response.headers());
        let status = response.status().as_u16();
        let page = response.text().await.unwrap();
        if let Some(start) = page.find(r#"name="csrf" value=""#) {
            let rest = &page[start + 19..];
            self.token = rest.split('"').next().unwrap().to_owned();
        }
        (status, page)
    }

    /// `POST path` with `form` and the page's token: status, `Location`, page.
    async fn post(
        &self,
        t: &TestServer,
        path: &str,
        form: &[(&str, &str)],
    ) -> (u16, Option<String>, String) {
        let mut fields = vec![("csrf", self.token.as_str())];
        fields.extend_from_slice(form);
        self.send(t, path, |request| request.form(&fields)).await
    }

    /// `POST path` with the body `fill` gives it, from the console's origin: status,
    /// `Location`, page.
    async fn send(
        &self,
        t: &TestServer,
        path: &str,
        fill: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> (u16, Option<String>, String) {
        let request = client()
            .post(t.url(path))
            .header(COOKIE, self.cookies.join("; "))
            .header("accept-language", "en")
            .header("origin", t.url(""));
        let response = fill(request).send().await.unwrap();
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(LOCATION)
            .map(|v| v.to_str().unwrap().to_owned());
        (status, location, response.text().await.unwrap())
    }

    /// `POST path` as the attach form sends it (`multipart/form-data`): the page's token and a
    /// PDF named `filename`.
    async fn attach(
        &self,
        t: &TestServer,
        path: &str,
        filename: &str,
        bytes: &[u8],
    ) -> (u16, Option<String>, String) {
        let boundary = "form-boundary-7MA4YWxkTrZu0gW";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"document\"; \
             filename=\"{filename}\"\r\nContent-Type: application/pdf\r\n\r\n",
            self.token
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let content_type = format!("multipart/form-data; boundary={boundary}");
        self.send(t, path, |request| {
            request.header("content-type", content_type).body(body)
        })
        .await
    }
}

/// A person of `entity` holding `role` (over `scope`, or group-wide), granted through the API,
/// which puts it in force for their sessions.
async fn person(t: &TestServer, entity: &str, name: &str, role: &str, scope: Option<&str>) {
    t.create_user_with_roles(entity, name, &[]).await;
    let grant = json!({"user": name, "role": role, "entity": scope});
    let (status, body) = t.admin_post("/admin/v1/role-grants", grant).await;
    assert_eq!(status, 201, "{body}");
}

/// The use case as the API answers it to `key`.
async fn read(t: &TestServer, key: &str) -> Value {
    let (status, body) = call(
        t,
        Method::GET,
        &format!("/admin/v1/use-cases/{SLUG}"),
        key,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn a_risk_officer_reviews_and_approves_a_version_in_the_console() {
    let t = TestServer::start_on(Database::Sqlite, vec![scripted_sim()], &config())
        .await
        .unwrap();
    let p = people(&t).await;
    person(&t, "acme", "olga", "risk_officer", Some("acme")).await;
    person(&t, "acme", "eric", "factory_engineer", Some("acme")).await;
    person(&t, "globex", "gus", "factory_engineer", Some("globex")).await;
    let definition = json!({
        "slug": SLUG, "name": "Invoice reader", "purpose": "Reads supplier invoices.",
        "owner_entity": "acme", "owners": ["eve"], "allowed_entities": ["acme"], "risk_class": "high",
    });
    let (status, created) = call(
        &t,
        Method::POST,
        "/admin/v1/use-cases",
        &p.engineer,
        Some(definition),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    for template in [
        "Extract the invoice for {{client}}.",
        "Read the invoice of {{client}}.",
    ] {
        let (status, body) = call(
            &t,
            Method::POST,
            &format!("/admin/v1/use-cases/{SLUG}/versions"),
            &p.engineer,
            Some(super::version(template)),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    put_suite(&t, SLUG, &p.engineer, "good", GOOD_SUITE).await;
    let submit = json!({"transition": "submit", "reason": "ready for review"});
    let (status, _) = transition(&t, SLUG, &p.engineer, 1, submit).await;
    assert_eq!(status, 200);
    let run = evaluate(&t, SLUG, &p.engineer, 1, "good").await;
    let run = run["id"].as_str().unwrap().to_owned();

    // The officer's list and the use case's page.
    let mut otto = Browser::sign_in(&t, "olga").await;
    let (status, list) = otto.get(&t, "/console/use-cases").await;
    assert_eq!(status, 200, "{list}");
    for seen in [
        SLUG,
        "Invoice reader",
        "high",
        "in review",
        "eve",
        "Use cases",
    ] {
        assert!(list.contains(seen), "{seen} in {list}");
    }
    let page_path = format!("/console/use-cases/{SLUG}");
    let (status, page) = otto.get(&t, &format!("{page_path}?from=1&to=2")).await;
    assert_eq!(status, 200, "{page}");
    for seen in [
        "-Extract the invoice for {{client}}.",
        "+Read the invoice of {{client}}.",
        run.as_str(),
        "100.0 %",
        "ready for review",
        r#"value="approve""#,
        r#"value="return""#,
    ] {
        assert!(page.contains(seen), "{seen} in {page}");
    }
    assert!(
        !page.contains(r#"value="deploy""#),
        "a risk officer does not deploy"
    );

    // Forms refused: without the token, without a reason.
    let forged = Browser {
        cookies: otto.cookies.clone(),
        token: "forged".into(),
    };
    let moved = format!("{page_path}/versions/1");
    let approve = [("transition", "approve"), ("eval_run", run.as_str())];
    let (status, _, _) = forged
        .post(&t, &moved, &[approve[0], approve[1], ("reason", "forged")])
        .await;
    assert_eq!(status, 403);
    let (status, _, refused) = otto
        .post(&t, &moved, &[approve[0], approve[1], ("reason", " ")])
        .await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused.contains("reason"), "{refused}");
    assert!(read(&t, &p.officer).await["approvals"]["1"].is_null());

    // The impact assessment, documented from the engineer's page and completed: a high-risk
    // version is approved on nothing less. The officer reads the document, and may not add one.
    let mut eric = Browser::sign_in(&t, "eric").await;
    let (_, page) = eric.get(&t, &page_path).await;
    assert!(page.contains(r#"enctype="multipart/form-data""#), "{page}");
    let documents = format!("{page_path}/documents");
    let assessment = b"%PDF-1.7 impact assessment";
    let (status, location, body) = eric.attach(&t, &documents, "dpia.pdf", assessment).await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some(page_path.as_str())),
        "{body}"
    );
    let forged = Browser {
        cookies: eric.cookies.clone(),
        token: "forged".into(),
    };
    assert_eq!(forged.attach(&t, &documents, "x.pdf", b"x").await.0, 403);
    let completed = Some(json!({"impact_assessment": "completed"}));
    let path = format!("/admin/v1/use-cases/{SLUG}");
    let (status, _) = call(&t, Method::PATCH, &path, &p.engineer, completed).await;
    assert_eq!(status, 200);
    let (_, listed) = call(
        &t,
        Method::GET,
        &format!("{path}/documents"),
        &p.officer,
        None,
    )
    .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");
    let id = listed["data"][0]["id"].as_str().unwrap();
    let (_, page) = otto.get(&t, &page_path).await;
    assert!(
        page.contains("dpia.pdf") && page.contains(&format!("{documents}/{id}")),
        "{page}"
    );
    assert!(!page.contains("multipart/form-data"), "{page}");
    let (status, downloaded) = otto.get(&t, &format!("{documents}/{id}")).await;
    assert_eq!((status, downloaded.as_bytes()), (200, &assessment[..]));

    // Approved from the page: the API's record, awaiting the group's second approval.
    let reason = "suite passes, checked in the console";
    let (status, location, body) = otto
        .post(&t, &moved, &[approve[0], approve[1], ("reason", reason)])
        .await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some(page_path.as_str())),
        "{body}"
    );
    let use_case = read(&t, &p.officer).await;
    assert_eq!(
        use_case["approvals"]["1"][0]["reason"], reason,
        "{use_case}"
    );
    assert_eq!(use_case["approvals"]["1"][0]["eval_run"], run.as_str());
    assert_eq!(use_case["versions"][0]["state"], "in_review");
    let (_, page) = otto.get(&t, &page_path).await;
    assert!(
        page.contains(reason) && page.contains("a second approval"),
        "{page}"
    );

    // The group-level approval a high-risk use case needs, from a group-wide compliance officer
    // granted through the API.
    person(&t, "acme", "cora", "compliance_officer", None).await;
    let mut cora = Browser::sign_in(&t, "cora").await;
    let (status, page) = cora.get(&t, &page_path).await;
    assert!(
        status == 200 && page.contains(r#"value="approve""#),
        "{page}"
    );
    let reason = "compliance review at group level";
    let (status, _, body) = cora
        .post(&t, &moved, &[approve[0], approve[1], ("reason", reason)])
        .await;
    assert_eq!(status, 303, "{body}");
    let use_case = read(&t, &p.officer).await;
    assert_eq!(use_case["versions"][0]["state"], "approved", "{use_case}");
    assert_eq!(
        use_case["approvals"]["1"][1]["group_level"], true,
        "{use_case}"
    );

    // The engineer's moves are his role's.
    let mut eve = Browser::sign_in(&t, "eric").await;
    let (status, page) = eve.get(&t, &page_path).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(r#"value="submit""#),
        "v2 is a draft he submits"
    );
    assert!(!page.contains(r#"value="approve""#), "he does not approve");

    // Another entity's engineer finds nothing.
    let mut gus = Browser::sign_in(&t, "gus").await;
    let (status, page) = gus.get(&t, &page_path).await;
    assert_eq!(status, 404, "{page}");
    let (status, list) = gus.get(&t, "/console/use-cases").await;
    assert_eq!(status, 200, "{list}");
    assert!(!list.contains(SLUG), "{list}");
    t.finish().await;
}
