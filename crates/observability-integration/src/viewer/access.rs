//! The viewer's access token (`viewer_token`). When it is set, every
//! page, API route and the OTLP intake need either the header
//! `Authorization: Bearer <token>` or the session cookie the login form
//! sets (`HttpOnly`, `SameSite=Strict`). Only the login form and the
//! pages' static script and style answer without it. Without a token the
//! viewer answers anyone who reaches it, which is why the config refuses a
//! viewer bound beyond loopback without one.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The token and this process's session value (what the cookie holds,
/// random per process, so restarting the application logs everyone out).
#[derive(Clone)]
pub(crate) struct Access {
    token: String,
    session: String,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Access(<redacted>)")
    }
}

/// Compares without stopping at the first difference, so the time taken
/// does not tell how much of a guess was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The session cookie's name for the server at `host`: cookies ignore
/// ports, so two viewers on one machine each get their own.
fn cookie_name(headers: &HeaderMap) -> String {
    let port = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.rsplit_once(':'))
        .map(|(_, p)| p)
        .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    match port {
        Some(p) => format!("observability_viewer_{p}"),
        None => "observability_viewer".to_owned(),
    }
}

impl Access {
    pub(crate) fn new(token: &str) -> Access {
        Access {
            token: token.to_owned(),
            session: format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            ),
        }
    }

    /// Whether `headers` carry the token or the session cookie.
    fn admits(&self, headers: &HeaderMap) -> bool {
        let bearer = headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split_once(' '))
            .any(|(scheme, t)| {
                scheme.eq_ignore_ascii_case("bearer")
                    && same(t.trim().as_bytes(), self.token.as_bytes())
            });
        if bearer {
            return true;
        }
        let name = cookie_name(headers);
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .any(|(k, v)| k == name && same(v.as_bytes(), self.session.as_bytes()))
    }

    /// Whether `offered` (the login form's field) is the token.
    fn is_token(&self, offered: &str) -> bool {
        same(offered.as_bytes(), self.token.as_bytes())
    }
}

/// Paths that answer without the token: the login form and the static
/// script and style it uses.
fn open(path: &str) -> bool {
    path.ends_with("/login")
        || path.ends_with("/assets/viewer.css")
        || path.ends_with("/assets/viewer.js")
}

/// The middleware: lets admitted requests through; else 401, with the
/// login form for a browser asking for a page.
pub(crate) async fn require(
    State(access): State<Arc<Access>>,
    req: Request,
    next: Next,
) -> Response {
    if open(req.uri().path()) || access.admits(req.headers()) {
        return next.run(req).await;
    }
    let wants_page = req.method() == Method::GET
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
    let mut res = if wants_page {
        let login = if req.uri().path().contains("/traces/") {
            "../login"
        } else {
            "login"
        };
        (StatusCode::UNAUTHORIZED, login_page(login, false)).into_response()
    } else {
        (
            StatusCode::UNAUTHORIZED,
            "the viewer needs its token (viewer_token): send `Authorization: Bearer <token>`, or log in at /login\n",
        )
            .into_response()
    };
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"observability viewer\""),
    );
    res
}

/// The login form, posting to `action`.
fn login_page(action: &str, wrong: bool) -> Response {
    let note = if wrong {
        "<p class=\"error\">That is not the viewer's token.</p>"
    } else {
        ""
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Viewer login</title>\
<link rel=\"stylesheet\" href=\"{css}\"></head><body><main class=\"login\"><h1>Trace viewer</h1>\
<p>This viewer needs its access token (<code>viewer_token</code>, <code>OBSERVABILITY_VIEWER_TOKEN</code>).</p>{note}\
<form method=\"post\" action=\"{action}\"><label>Token <input type=\"password\" name=\"token\" autocomplete=\"current-password\" autofocus></label>\
<button type=\"submit\">Open the viewer</button></form></main></body></html>",
        css = if action.starts_with("../") {
            "../assets/viewer.css"
        } else {
            "assets/viewer.css"
        },
    );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

/// `GET /login`.
pub(crate) async fn login_form() -> Response {
    login_page("login", false)
}

/// `POST /login` (a form with `token`): sets the session cookie and goes
/// to the runs page, or shows the form again.
pub(crate) async fn login(
    State(access): State<Arc<Access>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let offered = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if !access.is_token(&offered) {
        let mut res = login_page("login", true);
        *res.status_mut() = StatusCode::UNAUTHORIZED;
        return res;
    }
    let cookie = format!(
        "{}={}; Path=/; HttpOnly; SameSite=Strict",
        cookie_name(&headers),
        access.session
    );
    let mut res = (StatusCode::SEE_OTHER, [(header::LOCATION, "./")]).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_the_bearer_token_or_the_session_cookie_only() {
        let a = Access::new("0123456789abcdef");
        let mut h = HeaderMap::new();
        assert!(!a.admits(&h));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer 0123456789abcdef"),
        );
        assert!(a.admits(&h));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer 0123456789abcdeX"),
        );
        assert!(!a.admits(&h));
        h.remove(header::AUTHORIZATION);
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:9464"));
        let good = format!("a=b; observability_viewer_9464={}", a.session);
        h.insert(header::COOKIE, HeaderValue::from_str(&good).unwrap());
        assert!(a.admits(&h));
        let other_port = format!("observability_viewer_9465={}", a.session);
        h.insert(header::COOKIE, HeaderValue::from_str(&other_port).unwrap());
        assert!(!a.admits(&h));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("observability_viewer_9464=0123456789abcdef"),
        );
        assert!(!a.admits(&h), "the token is not the session");
    }

    #[test]
    fn debug_hides_the_token() {
        assert_eq!(
            format!("{:?}", Access::new("0123456789abcdef")),
            "Access(<redacted>)"
        );
    }
}
