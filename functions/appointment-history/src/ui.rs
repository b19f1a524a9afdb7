//! The embeddable timeline view: the `<appointment-timeline>` web component and a standalone page
//! around it, served as static files compiled into the binary (no build step, no framework, no
//! third-party script). The files live in `ui/` beside this crate's `src/`.
//!
//! - `/ui/appointment-timeline.js`  the component (a classic script, so that another origin can load
//!   it with a plain `<script src>`); it loads `appointment-timeline.css` into its shadow root
//! - `/ui/timeline.html?lead={leadId}#token=…`  the page; `timeline.js` reads the token from the
//!   fragment, which browsers never send to a server
//!
//! Every file is served with a Content-Security-Policy that allows only this origin's scripts,
//! styles and API (no inline script or style), `nosniff` and `Referrer-Policy: no-referrer`.

use axum::extract::Path;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::problem::{Kind, Problem};

/// `script-src 'self'` without `'unsafe-inline'`: the page has no inline script or handler, and
/// the component writes API data as text only. `connect-src 'self'`: the page talks to this API.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// One file of the view.
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
}

pub const ASSETS: [Asset; 5] = [
    Asset {
        name: "appointment-timeline.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../ui/appointment-timeline.js"),
    },
    Asset {
        name: "appointment-timeline.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../ui/appointment-timeline.css"),
    },
    Asset { name: "timeline.html", content_type: "text/html; charset=utf-8", body: include_str!("../ui/timeline.html") },
    Asset { name: "timeline.js", content_type: "text/javascript; charset=utf-8", body: include_str!("../ui/timeline.js") },
    Asset { name: "timeline.css", content_type: "text/css; charset=utf-8", body: include_str!("../ui/timeline.css") },
];

/// The file by its name, if it is one of the view's.
pub fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// `GET /ui/{file}`. The query string (the page's `lead`) is read by the page, not here.
pub async fn asset(Path(name): Path<String>) -> Response {
    let Some(asset) = find(&name) else {
        return Problem::new(Kind::RouteNotFound).into_response();
    };
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY)),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        // Small files that change with each deployment: revalidate rather than go stale.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (HeaderName::from_static("cross-origin-resource-policy"), HeaderValue::from_static("cross-origin")),
    ];
    (StatusCode::OK, headers, asset.body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_inline_script_or_html_sinks_in_the_files() {
        let page = find("timeline.html").unwrap().body;
        // Every <script> has a src; no inline handlers or styles.
        for (i, _) in page.match_indices("<script") {
            let tag = &page[i..i + page[i..].find('>').unwrap()];
            assert!(tag.contains(" src="), "inline script: {tag}");
        }
        for needle in [" onclick=", " onload=", " onerror=", " style=", "<style", "javascript:"] {
            assert!(!page.contains(needle), "{needle} in timeline.html");
        }
        // The scripts put API data into the DOM as text only.
        for name in ["appointment-timeline.js", "timeline.js"] {
            let js = find(name).unwrap().body;
            for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"] {
                assert!(!js.contains(sink), "{sink} in {name}");
            }
        }
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-inline"));
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-eval"));
    }
}
