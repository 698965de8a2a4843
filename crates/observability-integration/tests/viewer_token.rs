//! The viewer's access token over real HTTP: with `viewer_token` set,
//! every page, API route and the OTLP intake answer 401 without it; the
//! bearer header or the login form's session cookie opens them; the static
//! assets, `/metrics` and `/healthz` stay open; and a viewer bound beyond
//! loopback without a token is a config error that never prints a token.

#[path = "support/intake.rs"]
mod intake;
mod support;

use std::time::Duration;

use intake::{base, post, request, stack, TOKEN};
use observability_integration::{EnvSource, ObservabilityConfig};
use prost::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_everything_but_the_login_form_needs_it() {
    let obs = stack(Some(TOKEN));
    let base = base(&obs);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in [
        "",
        "api/runs",
        "api/stats",
        "api/metrics",
        "dashboard",
        "traces/01010101010101010101010101010101",
    ] {
        let res = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(res.status(), 401, "/{path}");
        assert!(res.headers().contains_key("www-authenticate"), "/{path}");
        let res = client
            .get(format!("{base}{path}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_ne!(res.status(), 401, "/{path} with the token");
    }
    // A browser gets the login form with the 401.
    let res = client
        .get(&base)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.text().await.unwrap().contains("name=\"token\""));
    let res = post(
        &format!("{base}v1/traces"),
        "application/x-protobuf",
        false,
        request("x", [5; 16]).encode_to_vec(),
        None,
    )
    .await;
    assert_eq!(res.status(), 401);
    let res = post(
        &format!("{base}v1/traces"),
        "application/x-protobuf",
        false,
        request("x", [5; 16]).encode_to_vec(),
        Some(TOKEN),
    )
    .await;
    assert_eq!(res.status(), 200);
    let res = client
        .get(format!("{base}api/runs"))
        .bearer_auth("wrong-token-wrong-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // The login form: a wrong token gets the form again, the right one a
    // cookie that opens the API.
    let login = |token: &'static str| {
        client
            .post(format!("{base}login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
    };
    assert_eq!(login("nope").await.unwrap().status(), 401);
    let res = login(TOKEN).await.unwrap();
    assert_eq!(res.status(), 303);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains(TOKEN),
        "the cookie is a session, not the token"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    let status = |path: &str, cookie: Option<&str>| {
        let mut req = client.get(format!("{base}{path}"));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        async move { req.send().await.unwrap().status() }
    };
    assert_eq!(status("api/runs", Some(&pair)).await, 200);
    // The static assets and /metrics stay open.
    for open in [
        "assets/viewer.css",
        "assets/viewer.js",
        "metrics",
        "healthz",
    ] {
        assert_eq!(status(open, None).await, 200, "/{open}");
    }
    obs.shutdown(Duration::from_secs(5));
}

#[test]
fn a_viewer_beyond_loopback_needs_a_token() {
    let cfg = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .prometheus_host("0.0.0.0")
        .enable_viewer(true)
        .build();
    let e = cfg.unwrap_err().to_string();
    assert!(e.contains("viewer_token") && e.contains("0.0.0.0"), "{e}");
    let short = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .viewer_token("tiny-x")
        .build();
    let e = short.unwrap_err().to_string();
    assert!(
        e.contains("viewer_token") && !e.contains("tiny-x"),
        "the token is never printed: {e}"
    );
    let ok = ObservabilityConfig::builder()
        .env(support::env(&[
            ("OBSERVABILITY_VIEWER_TOKEN", TOKEN),
            ("OTEL_EXPORTER_PROMETHEUS_HOST", "0.0.0.0"),
        ]))
        .enable_viewer(true)
        .build()
        .unwrap();
    assert!(!format!("{ok:?}").contains(TOKEN), "Debug hides the token");
    assert_eq!(ok.viewer_token.as_ref().map(|t| t.expose()), Some(TOKEN));
}
